// A small C ABI over libtorch functions that tch 0.26 does not expose (used by runtime/src/train/ffi.rs):
// per-device autocast (tch only has the deprecated CUDA-only fp16 switch) and resetting a tensor's gradient to
// undefined (torch's `zero_grad(set_to_none=True)`, which decides whether AdamW updates a parameter at all).
// No C++ exception may cross the boundary: every entry point catches and reports through `err`.
#include <ATen/autocast_mode.h>
#include <ATen/core/Tensor.h>

#include <cstring>
#include <exception>

namespace {

c10::DeviceType device_type(int device) { return device == 1 ? at::kCUDA : at::kCPU; }

void write_error(char* err, size_t err_len, const char* message) {
  if (err == nullptr || err_len == 0) return;
  std::strncpy(err, message, err_len - 1);
  err[err_len - 1] = '\0';
}

}  // namespace

extern "C" {

// Sets autocast for `device` (0 = CPU, 1 = CUDA): enabled flag and the lower-precision dtype (a c10::ScalarType
// code). Returns 0 on success, 1 on failure with a message in `err`.
int sam3c_autocast_set(int device, int enabled, int dtype, char* err, size_t err_len) {
  try {
    at::autocast::set_autocast_dtype(device_type(device), static_cast<at::ScalarType>(dtype));
    at::autocast::set_autocast_enabled(device_type(device), enabled != 0);
    return 0;
  } catch (const std::exception& e) {
    write_error(err, err_len, e.what());
    return 1;
  }
}

// Whether autocast is enabled for `device` on this thread (1/0), or -1 on failure.
int sam3c_autocast_is_enabled(int device) {
  try {
    return at::autocast::is_autocast_enabled(device_type(device)) ? 1 : 0;
  } catch (...) {
    return -1;
  }
}

// The autocast dtype of `device` (a c10::ScalarType code), or -1 on failure.
int sam3c_autocast_get_dtype(int device) {
  try {
    return static_cast<int>(at::autocast::get_autocast_dtype(device_type(device)));
  } catch (...) {
    return -1;
  }
}

// Nesting counter shared by all devices; the cast cache is cleared when the outermost scope exits.
int sam3c_autocast_increment_nesting() {
  try {
    return at::autocast::increment_nesting();
  } catch (...) {
    return -1;
  }
}

int sam3c_autocast_decrement_nesting() {
  try {
    return at::autocast::decrement_nesting();
  } catch (...) {
    return -1;
  }
}

void sam3c_autocast_clear_cache() {
  try {
    at::autocast::clear_cache();
  } catch (...) {
  }
}

// `tensor` is tch's C_tensor, an `at::Tensor*`. Leaves the tensor's gradient undefined.
int sam3c_tensor_reset_grad(void* tensor, char* err, size_t err_len) {
  try {
    static_cast<at::Tensor*>(tensor)->mutable_grad().reset();
    return 0;
  } catch (const std::exception& e) {
    write_error(err, err_len, e.what());
    return 1;
  }
}

}  // extern "C"
