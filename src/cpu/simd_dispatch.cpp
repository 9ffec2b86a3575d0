// The one place where SIMD targets are compiled and chosen: foreach_target.h re-includes this
// file once per Highway target, and HWY_DYNAMIC_DISPATCH picks the best one the CPU supports.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/simd_dispatch.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "cpu/simd_angles-inl.h"
#include "cpu/simd_rotate-inl.h"

HWY_BEFORE_NAMESPACE();
namespace rotary::cpu_backend {
namespace HWY_NAMESPACE {
int64_t TargetId() { return HWY_TARGET; }
}  // namespace HWY_NAMESPACE
}  // namespace rotary::cpu_backend
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "core/validate.h"
#include "cpu/simd.h"
#include "hwy/targets.h"

namespace rotary::cpu_backend {

HWY_EXPORT(RotateF32Half);
HWY_EXPORT(RotateF32Interleaved);
HWY_EXPORT(RotateF16Half);
HWY_EXPORT(RotateF16Interleaved);
HWY_EXPORT(RotateBF16Half);
HWY_EXPORT(RotateBF16Interleaved);
HWY_EXPORT(SinCosRow);
HWY_EXPORT(TargetId);

void rotate_rows_simd(Dtype dtype, bool traditional, const RowBlock& block) {
  if (dtype == float32)
    return traditional ? HWY_DYNAMIC_DISPATCH(RotateF32Interleaved)(block) : HWY_DYNAMIC_DISPATCH(RotateF32Half)(block);
  if (dtype == float16)
    return traditional ? HWY_DYNAMIC_DISPATCH(RotateF16Interleaved)(block) : HWY_DYNAMIC_DISPATCH(RotateF16Half)(block);
  if (dtype == bfloat16)
    return traditional ? HWY_DYNAMIC_DISPATCH(RotateBF16Interleaved)(block)
                       : HWY_DYNAMIC_DISPATCH(RotateBF16Half)(block);
  core::fail("[rope] no SIMD kernel for " + to_string(dtype) + ".");
}

void sincos_row(const AngleArgs& args, float* cos_out, float* sin_out) {
  HWY_DYNAMIC_DISPATCH(SinCosRow)(args, cos_out, sin_out);
}

const char* simd_target_name() { return hwy::TargetName(HWY_DYNAMIC_DISPATCH(TargetId)()); }

}  // namespace rotary::cpu_backend
#endif  // HWY_ONCE
