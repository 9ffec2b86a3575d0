#include "reference/oracle.h"

#include "core/frequencies.h"

#include <cmath>
#include <stdexcept>
#include <vector>

namespace rotary::reference {
int64_t read_int(const TensorView& v, const std::vector<int64_t>& idx) {
  int64_t off = 0;
  for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * v.strides[d];
  switch (v.dtype.val) {
    case Dtype::Val::int32: return static_cast<const int32_t*>(v.data)[off];
    case Dtype::Val::uint32: return static_cast<const uint32_t*>(v.data)[off];
    case Dtype::Val::int64: return static_cast<const int64_t*>(v.data)[off];
    default: throw std::invalid_argument("[reference] integer array expected");
  }
}

namespace {

// Position of token t in batch row b for stream s, straight from the Positions description.
int64_t position_of(const Positions& p, int64_t b, int64_t t, int s, int streams) {
  const TensorView& a = p.array();
  switch (p.kind()) {
    case Positions::Kind::offset:
      if (!a.data) return t + p.scalar_offset();
      return t + read_int(a, a.ndim() == 0 ? std::vector<int64_t>{} : std::vector<int64_t>{a.shape[0] == 1 ? 0 : b});
    case Positions::Kind::ids: {
      std::vector<int64_t> idx;
      if (streams > 1) idx.push_back(s);
      if (a.ndim() == int(idx.size()) + 2) idx.push_back(a.shape[idx.size()] == 1 ? 0 : b);
      idx.push_back(t);
      return read_int(a, idx);
    }
    case Positions::Kind::ragged: {
      const int64_t n = a.shape[0] - 1;
      for (int64_t q = 0; q < n; ++q) {
        const int64_t lo = read_int(a, {q}), hi = read_int(a, {q + 1});
        if (t >= lo && t < hi) return (p.starts() ? read_int(*p.starts(), {q}) : 0) + (t - lo);
      }
      throw std::invalid_argument("[reference] token outside every sequence");
    }
  }
  return 0;
}

}  // namespace

std::vector<double> inv_freq_from_base(int dims, double base) { return Frequencies::from_base(dims, base).inv_freq; }

Array rope(const Array& x_in, const Positions& positions, const RopeOptions& opt) {
  const Array x = x_in.astype(float64);  // row-major copy in double
  const int nd = x.ndim();
  const int D = x.shape(-1);
  const int dims = opt.dims == 0 ? D : opt.dims;
  const int half = dims / 2;
  const bool ragged = positions.kind() == Positions::Kind::ragged;
  const int token_axis = ragged ? 0 : nd + opt.seq_axis;
  // As rotary::rope: without frequencies of its own a call uses base 10000 over its dims.
  const Frequencies& fr = core::call_frequencies(opt.freqs, dims);
  const bool compat = opt.precision.value_or(default_precision()) == Precision::compat;
  const int streams = fr.position_streams;
  const double sign = opt.inverse ? -1.0 : 1.0;

  Array out = x.copy();
  const double* src = x.data<double>();
  double* dst = out.data<double>();
  const int64_t rows = x.size() / D;
  for (int64_t r = 0; r < rows; ++r) {
    // Multi-index of row r (over all axes but the last).
    int64_t rest = r, t = 0, b = 0;
    for (int a = nd - 2; a >= 0; --a) {
      const int64_t i = rest % x.shape()[a];
      rest /= x.shape()[a];
      if (a == token_axis) t = i;
      if (a == 0 && !ragged) b = i;
    }
    const double* xr = src + r * D;
    double* yr = dst + r * D;
    for (int i = 0; i < half; ++i) {
      const int s = fr.pair_position_stream.empty() ? 0 : fr.pair_position_stream[i];
      const int64_t p = position_of(positions, b, t, s, streams);
      // Compat mode defines the angle as a float32 product (spec part 3); the rest stays double.
      const double theta =
          compat ? double(float(opt.scale * float(p)) * float(fr.inv_freq[i]))
                 : static_cast<double>(p) * double(opt.scale) * fr.inv_freq[i];
      const double c = std::cos(theta) * fr.attention_factor;
      const double sn = std::sin(theta) * fr.attention_factor * sign;
      const int i1 = opt.layout == PairLayout::interleaved ? 2 * i : i;
      const int i2 = opt.layout == PairLayout::interleaved ? 2 * i + 1 : i + half;
      yr[i1] = xr[i1] * c - xr[i2] * sn;
      yr[i2] = xr[i1] * sn + xr[i2] * c;
    }
  }
  return out;
}

}  // namespace rotary::reference
