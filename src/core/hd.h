// ROTARY_HD marks functions that host and device code both call (nvcc's __host__ __device__).
#pragma once

#if defined(__CUDACC__)
#define ROTARY_HD __host__ __device__
#else
#define ROTARY_HD
#endif
