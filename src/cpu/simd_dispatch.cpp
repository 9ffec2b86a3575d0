// The one place where SIMD targets are compiled and chosen: foreach_target.h re-includes this
// file once per Highway target, and HWY_DYNAMIC_DISPATCH picks the best one the CPU supports.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/simd_dispatch.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "cpu/simd_angles-inl.h"
#include "cpu/simd_rotate-inl.h"
#include "cpu/simd_fused-inl.h"  // after simd_rotate-inl.h: reuses its LoadF/StoreF

HWY_BEFORE_NAMESPACE();
namespace rotary::cpu_backend {
namespace HWY_NAMESPACE {
int64_t TargetId() { return HWY_TARGET; }
// Fused multiply-add in hardware: the kernels' results equal the scalar std::fma ones only then.
bool TargetHasFma() { return HWY_NATIVE_FMA; }
}  // namespace HWY_NAMESPACE
}  // namespace rotary::cpu_backend
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "core/validate.h"
#include "cpu/simd.h"
#include "cpu/simd_fused.h"
#include "hwy/targets.h"

namespace rotary::cpu_backend {

HWY_EXPORT(RotateF32Half);
HWY_EXPORT(RotateF32Interleaved);
HWY_EXPORT(RotateF16Half);
HWY_EXPORT(RotateF16Interleaved);
HWY_EXPORT(RotateBF16Half);
HWY_EXPORT(RotateBF16Interleaved);
HWY_EXPORT(SinCosRow);
HWY_EXPORT(ExpandInterleaved);
HWY_EXPORT(SplitTableBF16);
HWY_EXPORT(TargetId);
HWY_EXPORT(TargetHasFma);
HWY_EXPORT(LoadRowF32);
HWY_EXPORT(StoreRowF32);
HWY_EXPORT(BufferedRowsKernel);
HWY_EXPORT(CopyBytesKernel);

void load_row_f32(Dtype dtype, const void* src, float* dst, int64_t n) {
  HWY_DYNAMIC_DISPATCH(LoadRowF32)(dtype, src, dst, n);
}
void store_row_f32(Dtype dtype, const float* src, void* dst, int64_t n, float scale) {
  HWY_DYNAMIC_DISPATCH(StoreRowF32)(dtype, src, dst, n, scale);
}
void buffered_rows(const BufferedRows& job) { HWY_DYNAMIC_DISPATCH(BufferedRowsKernel)(job); }
void copy_bytes(const void* src, void* dst, int64_t bytes, bool nontemporal) {
  HWY_DYNAMIC_DISPATCH(CopyBytesKernel)(src, dst, bytes, nontemporal);
}

void rotate_rows_simd(Dtype dtype, PairLayout layout, const RowBlock& block) {
  const bool interleaved = layout == PairLayout::interleaved;
  if (dtype == float32)
    return interleaved ? HWY_DYNAMIC_DISPATCH(RotateF32Interleaved)(block) : HWY_DYNAMIC_DISPATCH(RotateF32Half)(block);
  if (dtype == float16)
    return interleaved ? HWY_DYNAMIC_DISPATCH(RotateF16Interleaved)(block) : HWY_DYNAMIC_DISPATCH(RotateF16Half)(block);
  if (dtype == bfloat16)
    return interleaved ? HWY_DYNAMIC_DISPATCH(RotateBF16Interleaved)(block)
                       : HWY_DYNAMIC_DISPATCH(RotateBF16Half)(block);
  core::fail("[rope] no SIMD kernel for " + to_string(dtype) + ".");
}

void sincos_row(const AngleArgs& args, float* cos_out, float* sin_out) {
  HWY_DYNAMIC_DISPATCH(SinCosRow)(args, cos_out, sin_out);
}

void expand_interleaved(const float* c, const float* s, int pairs, float* c2, float* s2) {
  HWY_DYNAMIC_DISPATCH(ExpandInterleaved)(c, s, pairs, c2, s2);
}

void split_table_bf16(float* cos, float* sin, int pairs) { HWY_DYNAMIC_DISPATCH(SplitTableBF16)(cos, sin, pairs); }

bool simd_usable() { return HWY_DYNAMIC_DISPATCH(TargetHasFma)(); }

const char* simd_target_name() { return hwy::TargetName(HWY_DYNAMIC_DISPATCH(TargetId)()); }

namespace {
int64_t g_forced_target = 0;  // 0: none; SupportedTargets() reports the forced set while one is

int64_t all_supported() {
  hwy::SetSupportedTargetsForTest(0);
  const int64_t supported = hwy::SupportedTargets() & HWY_TARGETS;
  hwy::SetSupportedTargetsForTest(g_forced_target);
  return supported;
}
}  // namespace

std::vector<std::string> simd_targets() {
  std::vector<std::string> names;
  const int64_t supported = all_supported();
  for (int64_t bit = 1; bit != 0 && bit <= supported; bit <<= 1) {  // low bits: better targets
    if (!(supported & bit)) continue;
    hwy::SetSupportedTargetsForTest(bit);
    if (simd_usable()) names.push_back(hwy::TargetName(bit));
  }
  hwy::SetSupportedTargetsForTest(g_forced_target);
  return names;
}

void use_simd_target(const std::string& name) {
  int64_t chosen = 0;  // 0: back to every supported target
  const int64_t supported = all_supported();
  for (int64_t bit = 1; bit != 0 && bit <= supported; bit <<= 1)
    if ((supported & bit) && name == hwy::TargetName(bit)) chosen = bit;
  g_forced_target = chosen;
  hwy::SetSupportedTargetsForTest(chosen);
}

}  // namespace rotary::cpu_backend
#endif  // HWY_ONCE
