// The planner's part for caller-given cos/sin (RopeOptions::table): checks each argument and
// fills the plan's TablePlan.
#include <string>

#include "core/plan.h"
#include "core/validate.h"

namespace rotary::core {
namespace {

Strides strides_of(const TensorView& v) { return v.strides.empty() ? row_major_strides(v.shape) : v.strides; }

void check_table_array(const TensorView& a, const char* name, const TensorView& x) {
  if (a.data == nullptr && a.size() != 0) fail(std::string("[rope] table.") + name + " has no data.");
  if (a.device != x.device)
    fail(std::string("[rope] table.") + name + " is on " + to_string(a.device) + " but x is on " +
         to_string(x.device) + "; all tensors of a call must be on one device.");
  if (a.dtype != float32 && a.dtype != x.dtype)
    fail(std::string("[rope] table.") + name + " must be float32 or x's dtype (" + to_string(x.dtype) +
         ") but got " + to_string(a.dtype) + ".");
}

// The expected shapes of a table, for error messages.
std::string table_shapes(const CosSinTable& table, const RopePlan& plan) {
  const std::string w = "W = " + std::to_string(plan.pairs) + " or " + std::to_string(plan.dims);
  if (table.rows == CosSinTable::Rows::position) return "(P, W) with " + w;
  const std::string t = std::to_string(plan.T);
  return "(" + t + ", W) or (1 or " + std::to_string(plan.B) + ", " + t + ", W) with " + w;
}

void check_table_shape(const CosSinTable& table, const RopePlan& plan) {
  const Shape& s = table.cos.shape;
  if (table.sin.shape != s)
    fail("[rope] table.sin must have table.cos's shape " + to_string(s) + " but has " +
         to_string(table.sin.shape) + ".");
  const int n = int(s.size());
  const bool by_position = table.rows == CosSinTable::Rows::position;
  bool ok = by_position ? n == 2 : (n == 2 || n == 3);
  if (ok) ok = s[n - 1] == plan.pairs || s[n - 1] == plan.dims;
  if (ok && !by_position) ok = s[n - 2] == plan.T && (n == 2 || s[0] == 1 || s[0] == plan.B);
  if (!ok) fail("[rope] table.cos must have shape " + table_shapes(table, plan) + " but has " + to_string(s) + ".");
}

TableArray table_array(const TensorView& a) {
  const Strides st = strides_of(a);
  const int n = a.ndim();
  TableArray t;
  t.data = a.data;
  t.stride_w = st[n - 1];
  t.stride_row = st[n - 2];
  t.stride_b = n == 3 && a.shape[0] > 1 ? st[0] : 0;
  return t;
}

// Every token's position must name a row of a position-indexed table (host-readable positions).
void check_table_rows(const RopePlan& plan, int64_t rows) {
  for (int64_t b = 0; b < plan.B; ++b)
    for (int64_t t = 0; t < plan.T; ++t) {
      const int64_t p = plan.positions.at(b, t, 0);
      if (p < 0 || p >= rows)
        fail("[rope] table has " + std::to_string(rows) + " rows (positions 0.." + std::to_string(rows - 1) +
             ") but token (" + std::to_string(b) + ", " + std::to_string(t) + ") is at position " +
             std::to_string(p) + ".");
    }
}

}  // namespace

TablePlan plan_table(const CosSinTable& table, const TensorView& x, const RopeOptions& options,
                     const RopePlan& plan) {
  if (!options.freqs.inv_freq.empty())
    fail("[rope] freqs and table are two angle sources; pass one of them.");
  check_table_array(table.cos, "cos", x);
  check_table_array(table.sin, "sin", x);
  if (table.sin.dtype != table.cos.dtype)
    fail("[rope] table.sin must have table.cos's dtype " + to_string(table.cos.dtype) + " but got " +
         to_string(table.sin.dtype) + ".");
  check_table_shape(table, plan);
  TablePlan tp;
  tp.cos = table_array(table.cos);
  tp.sin = table_array(table.sin);
  tp.dtype = table.cos.dtype;
  tp.by_position = table.rows == CosSinTable::Rows::position;
  tp.width = int(table.cos.shape.back());
  tp.hf_rounding = options.rounding == TableRounding::hf;
  tp.rows = table.cos.shape[tp.by_position ? 0 : int(table.cos.shape.size()) - 2];
  // Position arrays live on x's device: on a GPU only a scalar offset is readable here.
  const bool host_positions = x.device.type == Device::Type::cpu || plan.positions.array == nullptr;
  if (tp.by_position && host_positions) check_table_rows(plan, tp.rows);
  tp.rows_unchecked = tp.by_position && !host_positions;
  return tp;
}

}  // namespace rotary::core
