// Prints the largest error against the float64 oracle for each dtype and precision mode,
// near position 0 and near 2^20: the figures of docs/NUMERICS.md.
#include <rotary/rotary.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "bench_common.h"
#include "reference/oracle.h"

using namespace rotary;

namespace {

// Units in the last place of the format at |v| (never below the format's smallest normal ulp).
double ulp_of(double v, Dtype dt) {
  int e;
  std::frexp(std::max(std::fabs(v), 1e-30), &e);
  const int mant = dt == float32 ? 23 : dt == float16 ? 10 : dt == bfloat16 ? 7 : 52;
  const int min_e = dt == float16 ? -13 : -125;
  return std::ldexp(1.0, std::max(e, min_e) - 1 - mant);
}

struct Errors {
  double abs = 0, ulps = 0;
};

Errors measure(Dtype dt, Precision precision, int64_t offset) {
  constexpr int B = 1, H = 8, T = 64, D = 128;
  std::mt19937 gen(7);
  std::normal_distribution<double> dist;
  std::vector<double> v(size_t(B) * H * T * D);
  for (double& e : v) e = dist(gen);
  const Array x(v.data(), {B, H, T, D}, dt);
  RopeOptions opt;
  opt.freqs = Frequencies::from_base(D, 10000.0);
  opt.precision = precision;
  const Array y = rope(x, Positions(offset), opt);
  RopeOptions exact_opt = opt;  // the true result: double angles, whatever the kernel's mode
  exact_opt.precision = Precision::accurate;
  const Array exact = reference::rope(x, Positions(offset), exact_opt);
  Errors e;
  for (int64_t i = 0; i < y.size(); ++i) {
    const double err = std::fabs(y.at(i) - exact.at(i));
    e.abs = std::max(e.abs, err);
    // In ulps of the larger of |exact| and 1: cancellation near zero makes relative ulps meaningless.
    e.ulps = std::max(e.ulps, err / ulp_of(std::max(std::fabs(exact.at(i)), 1.0), dt));
  }
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Largest error against the float64 oracle per dtype and precision mode (docs/NUMERICS.md)"};
  if (const int rc = bench::parse(app, argc, argv); rc >= 0) return rc;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::printf("max error vs the float64 oracle, x ~ N(0,1), shape (1,8,64,128), base 1e4, half-split\n");
  std::printf("%-9s %-9s %-16s %-16s\n", "dtype", "mode", "positions 0..63", "positions 2^20..+63");
  for (Dtype dt : {float32, float16, bfloat16, float64})
    for (Precision p : {Precision::accurate, Precision::compat}) {
      const Errors near = measure(dt, p, 0), far = measure(dt, p, int64_t(1) << 20);
      std::printf("%-9s %-9s %.3g (%.2f ulp)  %.3g (%.2f ulp)\n", to_string(dt).c_str(),
                  p == Precision::accurate ? "accurate" : "compat", near.abs, near.ulps, far.abs, far.ulps);
    }
  return 0;
}
