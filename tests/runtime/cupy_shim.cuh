// What CuPy's preamble (cupy/carray.cuh) gives generated kernels, written small for the tests:
// CArray<T, ndim, c_contiguous, use_32bit_indexing>, CIndexer<ndim, use_32bit_indexing>,
// float16 and CUPY_FOR, with CuPy's memory layout and interface. Compiled by nvcc it checks that
// graphc's kernel source compiles for the device; compiled by a host C++ compiler (no
// __CUDACC__) the same source runs on the CPU, one "thread", so tests can check its values.
#pragma once
#include <stddef.h>
#include <string.h>

#ifdef __CUDACC__
#include <cuda_fp16.h>
#else  // the host: CUDA's qualifiers and intrinsics as plain C++
#include <cmath>
#include <cstdint>
#include <cstdlib>
#define __device__
#define __global__
#define __forceinline__ inline
#define __shared__ static
using namespace std;
struct _graphc_dim3 { unsigned int x; };
static const _graphc_dim3 blockIdx = {0}, threadIdx = {0}, blockDim = {1}, gridDim = {1};
inline void __syncthreads() {}
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline float __int_as_float(unsigned int bits) { float f; memcpy(&f, &bits, 4); return f; }
inline double __longlong_as_double(long long bits) { double d; memcpy(&d, &bits, 8); return d; }
inline double erfinv(double y) {  // Newton on erf, from a rough start: enough for tests
  if (y <= -1 || y >= 1) return y == 1 ? INFINITY : (y == -1 ? -INFINITY : NAN);
  double x = y * (0.886226925 + y * y * 0.2320136);
  for (int k = 0; k < 60; k++) x -= (erf(x) - y) / (1.1283791670955126 * exp(-x * x));
  return x;
}
inline float erfinv(float y) { return (float)erfinv((double)y); }
typedef _Float16 half;
#endif

class float16 {
  half data_;
 public:
  __device__ float16() {}
  __device__ float16(float v) : data_(v) {}
  explicit __device__ float16(double v) : data_((float)v) {}
  explicit __device__ float16(bool v) : data_((float)v) {}
  explicit __device__ float16(int v) : data_((float)v) {}
  explicit __device__ float16(long long v) : data_((float)v) {}
  __device__ operator float() const { return (float)data_; }
};

#define CUPY_FOR(i, n)                                                       \
  for (ptrdiff_t i = static_cast<ptrdiff_t>(blockIdx.x) * blockDim.x + threadIdx.x; \
       i < (n); i += static_cast<ptrdiff_t>(blockDim.x) * gridDim.x)

template <typename T, int _ndim, bool _c_contiguous = false, bool _use_32bit_indexing = false>
class CArray {
 public:
  static const int ndim = _ndim;
 private:
  T* data_;
  ptrdiff_t size_;
  ptrdiff_t shape_[_ndim];
  ptrdiff_t strides_[_ndim];
 public:
  __device__ ptrdiff_t size() const { return size_; }
  __device__ const T& operator[](const ptrdiff_t (&idx)[_ndim]) const {
    ptrdiff_t diff = 0;
    for (int dim = 0; dim < _ndim; ++dim) diff += strides_[dim] * idx[dim];
    return *reinterpret_cast<const T*>(reinterpret_cast<const char*>(data_) + diff);
  }
  __device__ T& operator[](const ptrdiff_t (&idx)[_ndim]) {
    return const_cast<T&>(const_cast<const CArray&>(*this)[idx]);
  }
  __device__ const T& operator[](ptrdiff_t i) const {
    ptrdiff_t diff = 0;
    for (int dim = _ndim; --dim > 0;) {
      diff += strides_[dim] * (i % shape_[dim]);
      i /= shape_[dim];
    }
    diff += strides_[0] * i;
    return *reinterpret_cast<const T*>(reinterpret_cast<const char*>(data_) + diff);
  }
  __device__ T& operator[](ptrdiff_t i) {
    return const_cast<T&>(const_cast<const CArray&>(*this)[i]);
  }
};

template <typename T, bool _c_contiguous, bool _use_32bit_indexing>
class CArray<T, 0, _c_contiguous, _use_32bit_indexing> {
  T* data_;
  ptrdiff_t size_;
 public:
  static const int ndim = 0;
  __device__ ptrdiff_t size() const { return size_; }
  template <typename U> __device__ T& operator[](const U&) { return *data_; }
  template <typename U> __device__ const T& operator[](const U&) const { return *data_; }
};

template <int _ndim, bool _use_32bit_indexing = false>
class CIndexer {
  ptrdiff_t size_;
  ptrdiff_t shape_[_ndim];
  ptrdiff_t index_[_ndim];
 public:
  static const int ndim = _ndim;
  __device__ ptrdiff_t size() const { return size_; }
  __device__ const ptrdiff_t (&get() const)[_ndim] { return index_; }
  __device__ void set(ptrdiff_t i) {
    for (int dim = _ndim; --dim > 0;) {
      index_[dim] = i % shape_[dim];
      i /= shape_[dim];
    }
    index_[0] = i;
  }
};

template <bool _use_32bit_indexing>
class CIndexer<0, _use_32bit_indexing> {
  ptrdiff_t size_;
 public:
  static const int ndim = 0;
  __device__ ptrdiff_t size() const { return size_; }
  __device__ void set(ptrdiff_t) {}
  __device__ const ptrdiff_t* get() const { return NULL; }
};
