// make_plan: validates a call and turns it into the canonical RopePlan.
#include "core/plan.h"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "core/frequencies.h"
#include "core/validate.h"

namespace rotary::core {
namespace {

// Canonical axes of a (B, *heads, T, D), (B, T, *heads, D) or ragged (N, *heads, D) tensor.
struct AxisRoles {
  int batch = -1;  // -1: none (ragged)
  int token = 0;
  std::vector<int> heads;
};

AxisRoles axis_roles(int ndim, int seq_axis, bool ragged) {
  AxisRoles r;
  if (ragged) {
    r.token = 0;
    for (int a = 1; a < ndim - 1; ++a) r.heads.push_back(a);
    return r;
  }
  r.batch = 0;
  r.token = ndim + seq_axis;
  for (int a = 1; a < ndim - 1; ++a)
    if (a != r.token) r.heads.push_back(a);
  return r;
}

// Fills one tensor's geometry, merging head axes that collapse into one (for both in and out).
void fill_geometry(const AxisRoles& roles, const TensorView& in, const TensorView& out, TensorPair& pair) {
  const int nd = in.ndim();
  auto fill_fixed = [&](const TensorView& v, TensorGeometry& g) {
    g.data = static_cast<char*>(v.data);
    g.stride_b = roles.batch >= 0 ? v.strides[roles.batch] : 0;
    g.stride_t = v.strides[roles.token];
    g.stride_d = v.strides[nd - 1];
    g.n_head_axes = 0;
  };
  fill_fixed(in, pair.in);
  fill_fixed(out, pair.out);
  pair.heads = 1;
  for (int a : roles.heads) {
    const int64_t size = in.shape[a];
    pair.heads *= size;
    if (size == 1) continue;
    TensorGeometry* gs[2] = {&pair.in, &pair.out};
    const TensorView* vs[2] = {&in, &out};
    // Axis a continues the previous head axis when, in both tensors, that axis steps over
    // exactly `size` of axis a's steps.
    auto continues = [&](int k) {
      const TensorGeometry& g = *gs[k];
      return g.head_stride[g.n_head_axes - 1] == vs[k]->strides[a] * size;
    };
    const bool mergeable = pair.in.n_head_axes > 0 && continues(0) && continues(1);
    for (int k = 0; k < 2; ++k) {
      TensorGeometry& g = *gs[k];
      if (mergeable) {
        g.head_size[g.n_head_axes - 1] *= size;
        g.head_stride[g.n_head_axes - 1] = vs[k]->strides[a];
      } else {
        if (g.n_head_axes == kMaxHeadAxes)
          fail("[rope] x has more than " + std::to_string(kMaxHeadAxes) +
               " head axes that cannot be merged; make it contiguous first.");
        g.head_size[g.n_head_axes] = size;
        g.head_stride[g.n_head_axes] = vs[k]->strides[a];
        ++g.n_head_axes;
      }
    }
  }
}

void check_same_device(const TensorView& x, const TensorView& other, const char* name) {
  if (other.device != x.device)
    fail(std::string("[rope] ") + name + " is on " + to_string(other.device) + " but x is on " +
         to_string(x.device) + "; all tensors of a call must be on one device.");
}

void check_integer_array(const TensorView& v, const char* name) {
  if (!is_integer(v.dtype))
    fail(std::string("[rope] ") + name + " must be an integer array (int32, int64 or uint32) but got type " +
         to_string(v.dtype) + ".");
}

// Calls f(i, value) for each element of a host integer array, in row-major order.
template <typename F>
void for_each_value(const TensorView& v, F&& f) {
  const int64_t n = v.size();
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0, rest = i;
    for (int d = v.ndim() - 1; d >= 0; --d) {
      off += (rest % v.shape[d]) * v.strides[d];
      rest /= v.shape[d];
    }
    f(i, read_index(v.data, v.dtype, off));
  }
}

// Throws when a host integer array holds a negative value.
void check_non_negative(const TensorView& v, const char* name) {
  if (v.device.type != Device::Type::cpu || v.dtype == uint32) return;
  for_each_value(v, [&](int64_t i, int64_t value) {
    if (value < 0)
      fail(std::string("[rope] ") + name + " must not be negative but element " + std::to_string(i) +
           " is " + std::to_string(value) + ".");
  });
}

// Positions start + j for j < count must fit in int64 (the kernels add them in int64). `what`
// names the value (called only on failure: building the name per array element cost a decode
// call an allocation and a copy per batch row).
template <typename Name>
void check_positions_fit(int64_t start, int64_t count, const Name& what) {
  if (count > 0 && start > std::numeric_limits<int64_t>::max() - (count - 1))
    fail("[rope] " + what() + " is " + std::to_string(start) + "; plus the token index (up to " +
         std::to_string(count - 1) + ") it overflows int64, the largest position is " +
         std::to_string(std::numeric_limits<int64_t>::max()) + ".");
}

std::string position_ids_shape(int S, int64_t B, int64_t T) {
  const std::string s = std::to_string(S), b = std::to_string(B), t = std::to_string(T);
  return S > 1 ? "(" + s + "," + t + ") or (" + s + "," + b + "," + t + ")" : "(" + t + ",) or (" + b + "," + t + ")";
}

// Kind offset: a scalar, or an offset array of shape (), (1,) or (B,) (checked by check_call).
void plan_offsets(const Positions& p, const TensorView& x, int64_t B, int64_t T, PositionPlan& pp) {
  const TensorView& a = p.array();
  pp.offset = p.scalar_offset();
  if (p.is_scalar_offset()) {
    check_positions_fit(pp.offset, T, [] { return std::string("offset"); });
  } else {
    check_same_device(x, a, "offset");
    if (a.device.type == Device::Type::cpu)
      for_each_value(a, [&](int64_t i, int64_t v) {
        check_positions_fit(v, T, [i] { return "offset[" + std::to_string(i) + "]"; });
      });
    pp.array = a.data;
    pp.dtype = a.dtype;
    pp.stride_b = (a.ndim() == 1 && a.shape[0] == B && B > 1) ? a.strides[0] : 0;
    pp.batch_invariant = pp.stride_b == 0;
  }
  if (pp.streams != 1)
    fail("[rope] freqs read " + std::to_string(pp.streams) +
         " position streams; multi-axis RoPE needs Positions::ids of shape (S,T) or (S,B,T).");
}

// Kind ids: (T,) or (B,T); with S > 1 position streams, (S,T) or (S,B,T).
void plan_ids(const Positions& p, const TensorView& x, int64_t B, int64_t T, PositionPlan& pp) {
  const TensorView& a = p.array();
  check_integer_array(a, "position_ids");
  check_same_device(x, a, "position_ids");
  const int S = pp.streams;
  const int lead = S > 1 ? 1 : 0;  // a leading stream axis
  const bool has_b = a.ndim() == lead + 2;
  const bool shape_ok = (a.ndim() == lead + 1 || has_b) && (!lead || a.shape[0] == S) &&
                        a.shape[a.ndim() - 1] == T && (!has_b || a.shape[lead] == B || a.shape[lead] == 1);
  if (!shape_ok)
    fail("[rope] position_ids must have shape " + position_ids_shape(S, B, T) + " but has shape " +
         to_string(a.shape) +
         (S == 1 && a.ndim() == 3
              ? " (freqs.position_streams is 1: multi-axis ids need freqs with a pair_position_stream map)."
              : "."));
  check_non_negative(a, "position_ids");
  pp.array = a.data;
  pp.dtype = a.dtype;
  pp.stride_s = lead ? a.strides[0] : 0;
  pp.stride_b = has_b && a.shape[lead] > 1 ? a.strides[lead] : 0;
  pp.stride_t = a.strides[a.ndim() - 1];
  pp.batch_invariant = pp.stride_b == 0 || B == 1;
}

// A host cu_seqlens must start at 0, never decrease, and end at the token count T.
void check_cu_seqlens_values(const TensorView& a, int64_t num_seqs, int64_t T) {
  int64_t prev = read_index(a.data, a.dtype, 0);
  if (prev != 0) fail("[rope] cu_seqlens must start at 0 but starts at " + std::to_string(prev) + ".");
  for (int64_t s = 1; s <= num_seqs; ++s) {
    const int64_t v = read_index(a.data, a.dtype, s * a.strides[0]);
    if (v < prev)
      fail("[rope] cu_seqlens must be non-decreasing but element " + std::to_string(s) + " (" +
           std::to_string(v) + ") is below element " + std::to_string(s - 1) + " (" + std::to_string(prev) + ").");
    prev = v;
  }
  if (prev != T)
    fail("[rope] cu_seqlens must end at the number of tokens (" + std::to_string(T) + ") but ends at " +
         std::to_string(prev) + ".");
}

// Sequence s's positions starts[s] + j, j below its length, must fit in int64 (host arrays).
void check_starts_fit(const TensorView& cu_seqlens, const TensorView& starts, int64_t num_seqs) {
  for (int64_t s = 0; s < num_seqs; ++s) {
    const int64_t begin = read_index(cu_seqlens.data, cu_seqlens.dtype, s * cu_seqlens.strides[0]);
    const int64_t end = read_index(cu_seqlens.data, cu_seqlens.dtype, (s + 1) * cu_seqlens.strides[0]);
    check_positions_fit(read_index(starts.data, starts.dtype, s * starts.strides[0]), end - begin,
                        [s] { return "starts[" + std::to_string(s) + "]"; });
  }
}

// Kind ragged: cu_seqlens (num_seqs + 1) and optional starts (num_seqs).
void plan_ragged(const Positions& p, const TensorView& x, int64_t T, PositionPlan& pp) {
  const TensorView& a = p.array();
  check_integer_array(a, "cu_seqlens");
  check_same_device(x, a, "cu_seqlens");
  if (a.ndim() != 1 || a.shape[0] < 1)
    fail("[rope] cu_seqlens must be one dimensional with n+1 >= 1 elements but has shape " + to_string(a.shape) +
         ".");
  if (pp.streams != 1)
    fail("[rope] ragged positions (cu_seqlens) have a single position stream but freqs read " +
         std::to_string(pp.streams) + "; for multi-axis RoPE of packed tokens pass x as "
         "(1, total_T, H, D) with seq_axis -3 and Positions::ids of shape (S, total_T).");
  pp.array = a.data;
  pp.dtype = a.dtype;
  pp.stride_t = a.strides[0];
  pp.num_seqs = a.shape[0] - 1;
  if (a.device.type == Device::Type::cpu) check_cu_seqlens_values(a, pp.num_seqs, T);
  if (!p.starts()) return;
  const TensorView& st = *p.starts();
  check_integer_array(st, "starts");
  check_same_device(x, st, "starts");
  if (st.ndim() != 1 || st.shape[0] != pp.num_seqs)
    fail("[rope] starts must have one element per sequence (" + std::to_string(pp.num_seqs) + ") but has shape " +
         to_string(st.shape) + ".");
  check_non_negative(st, "starts");
  if (st.device.type == Device::Type::cpu) check_starts_fit(a, st, pp.num_seqs);
  pp.starts = st.data;
  pp.starts_dtype = st.dtype;
  pp.starts_stride = st.strides[0];
}

PositionPlan plan_positions(const Positions& p, const TensorView& x, int64_t B, int64_t T, int streams) {
  PositionPlan pp;
  pp.kind = p.kind();
  pp.streams = streams;
  switch (p.kind()) {
    case Positions::Kind::offset: plan_offsets(p, x, B, T, pp); break;
    case Positions::Kind::ids: plan_ids(p, x, B, T, pp); break;
    case Positions::Kind::ragged: plan_ragged(p, x, T, pp); break;
  }
  return pp;
}

void check_output(const TensorView& in, const TensorView& out) {
  if (out.shape != in.shape)
    fail("[rope] out must have the shape of x " + to_string(in.shape) + " but has shape " +
         to_string(out.shape) + ".");
  if (out.dtype != in.dtype)
    fail("[rope] out must have the dtype of x (" + to_string(in.dtype) + ") but has " + to_string(out.dtype) + ".");
  check_same_device(in, out, "out");
  if (overlaps_itself(out))
    fail("[rope] out has elements that share memory (e.g. a zero stride); it cannot be written.");
  if (!same_view(in, out) && may_share_memory(in, out))
    fail("[rope] out overlaps x without being the same view; pass x itself for an in-place call, "
         "or a separate buffer.");
}

// Q and K are written independently (possibly by different threads): neither output may
// touch the other output or the other input. Reading one input twice is fine.
void check_qk_disjoint(const TensorView* in, const TensorView* out) {
  if (may_share_memory(out[0], out[1]))
    fail(same_view(in[0], out[0]) && same_view(in[1], out[1])
             ? "[rope] q and k share memory; rope_qk_inplace needs q and k to be separate tensors."
             : "[rope] q_out and k_out share memory; each output must have its own elements.");
  if (may_share_memory(out[0], in[1]))
    fail("[rope] q_out overlaps k; writing q would change k before it is read.");
  if (may_share_memory(out[1], in[0]))
    fail("[rope] k_out overlaps q; writing k would change q before it is read.");
}

// Multi-axis frequencies: a stream count the kernels support and a map naming real streams.
void check_streams(const Frequencies& freqs, int pairs) {
  const int streams = freqs.position_streams;
  const std::vector<uint8_t>& map = freqs.pair_position_stream;
  if (streams < 1 || streams > kMaxPositionStreams)
    fail("[rope] freqs.position_streams must be between 1 and " + std::to_string(kMaxPositionStreams) +
         " but is " + std::to_string(streams) + ".");
  if (map.empty()) {
    if (streams > 1)
      fail("[rope] freqs.position_streams is " + std::to_string(streams) +
           " but freqs.pair_position_stream is empty; say which stream each pair reads (e.g. from "
           "mrope_section).");
    return;
  }
  if (int(map.size()) != pairs)
    fail("[rope] freqs.pair_position_stream must have one entry per pair (" + std::to_string(pairs) +
         ") but has " + std::to_string(map.size()) + ".");
  for (size_t i = 0; i < map.size(); ++i)
    if (map[i] >= streams)
      fail("[rope] freqs.pair_position_stream[" + std::to_string(i) + "] names stream " + std::to_string(map[i]) +
           " but freqs.position_streams is " + std::to_string(streams) + ".");
}

// Checks a second tensor (k) against the first (q): same dtype, rank, batch, tokens and D.
void check_second_input(const TensorView& x, const TensorView& in, const AxisRoles& roles, const RopePlan& plan) {
  check_input(in, roles.batch >= 0 ? 3 : 2);
  check_same_device(x, in, "k");
  if (in.dtype != x.dtype || in.ndim() != x.ndim() || in.shape[roles.token] != plan.T ||
      in.shape[x.ndim() - 1] != plan.D || (roles.batch >= 0 && in.shape[roles.batch] != plan.B))
    fail("[rope] q and k must share dtype, batch, tokens and head size but have shapes " + to_string(x.shape) +
         " (" + to_string(x.dtype) + ") and " + to_string(in.shape) + " (" + to_string(in.dtype) + ").");
}

void check_seq_axis(const TensorView& x, int seq_axis) {
  if (seq_axis != -2 && seq_axis != -3)
    fail("[rope] seq_axis must be -2 (B, *, T, D) or -3 (B, T, *, D) but got " + std::to_string(seq_axis) + ".");
  if (seq_axis == -3 && x.ndim() < 4)
    fail("[rope] seq_axis -3 needs an input (B, T, *, D) with at least 4 dimensions but got " +
         std::to_string(x.ndim()) + ".");
}


}  // namespace

void plan_rotation(const RopeOptions& options, const Frequencies& freqs, RopePlan& plan) {
  if (freqs.pairs() != plan.pairs)
    fail("[rope] freqs must have dims/2 = " + std::to_string(plan.pairs) + " inverse frequencies but has " +
         std::to_string(freqs.pairs()) + ".");
  check_streams(freqs, plan.pairs);
  plan.inv_freq = freqs.inv_freq.data();
  if (!freqs.pair_position_stream.empty()) plan.pair_position_stream = freqs.pair_position_stream.data();
  plan.scale = options.scale;
  plan.attention_factor = freqs.attention_factor;
  plan.layout = options.layout;
  plan.inverse = options.inverse;
  plan.precision = options.precision.value_or(default_precision());
  plan.cuda_stream = options.cuda_stream;
}

RopePlan make_plan(const TensorView* inputs, const TensorView* outputs, int n_tensors,
                   const Positions& positions, const RopeOptions& options) {
  const TensorView& x = inputs[0];
  const bool ragged = positions.kind() == Positions::Kind::ragged;
  if (!ragged) check_seq_axis(x, options.seq_axis);
  const AxisRoles roles = axis_roles(x.ndim(), options.seq_axis, ragged);
  RopePlan plan;
  plan.dtype = x.dtype;
  plan.device = x.device;
  plan.B = roles.batch >= 0 ? x.shape[roles.batch] : 1;
  plan.T = x.shape[roles.token];
  plan.D = x.shape[x.ndim() - 1];
  plan.dims = options.dims == 0 ? int(plan.D) : options.dims;
  plan.pairs = plan.dims / 2;
  // The one place the base-10000 fallback is resolved (the oracle reads the same function).
  const Frequencies& freqs = call_frequencies(options.freqs, plan.dims);
  plan_rotation(options, freqs, plan);
  plan.positions = plan_positions(positions, x, plan.B, plan.T, freqs.position_streams);
  if (options.table) {
    plan.table = plan_table(*options.table, x, options, plan);
    plan.attention_factor = 1.0;  // the caller's cos/sin are used as given
    if (!plan.table.by_position && plan.table.cos.stride_b != 0) plan.positions.batch_invariant = false;
  }

  plan.n_tensors = n_tensors;
  for (int k = 0; k < n_tensors; ++k) {
    const TensorView& in = inputs[k];
    if (k > 0) check_second_input(x, in, roles, plan);
    check_output(in, outputs[k]);
    fill_geometry(roles, in, outputs[k], plan.tensors[k]);
    plan.tensors[k].in_place = same_view(in, outputs[k]);
  }
  if (n_tensors == 2) check_qk_disjoint(inputs, outputs);
  return plan;
}

}  // namespace rotary::core
