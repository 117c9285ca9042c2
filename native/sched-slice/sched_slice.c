// setSlice(ns): asks the kernel for a scheduling slice of `ns` nanoseconds for the calling thread,
// keeping its policy and nice value. Linux 6.12+ (EEVDF) takes sched_runtime as a custom slice for
// SCHED_OTHER/SCHED_BATCH threads, clamped to 0.1-100 ms, and lets a woken thread with a shorter
// slice preempt the running one; older kernels accept the call and ignore the value.
// Returns the slice the kernel reports afterwards (0 where it has no such notion), or -1 when the
// thread runs under another policy (real-time, idle), which is left alone. Throws on a failed call.
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <node_api.h>

// struct sched_attr as of its first version (48 bytes), enough for policy, nice and runtime.
struct sched_attr_v0 {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
};

#define POLICY_OTHER 0
#define POLICY_BATCH 3

static napi_value throw_errno(napi_env env, const char *call) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", call, strerror(errno));
  napi_throw_error(env, NULL, message);
  return NULL;
}

static int get_attr(struct sched_attr_v0 *attr) {
  memset(attr, 0, sizeof *attr);
  return (int)syscall(SYS_sched_getattr, 0, attr, (unsigned int)sizeof *attr, 0U);
}

static napi_value set_slice(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t ns = 0;
  napi_value result;
  struct sched_attr_v0 attr;

  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int64(env, argv[0], &ns) != napi_ok || ns < 0) {
    napi_throw_type_error(env, NULL, "setSlice(ns): ns must be a non-negative number");
    return NULL;
  }
  if (get_attr(&attr) != 0) return throw_errno(env, "sched_getattr");
  if (attr.sched_policy != POLICY_OTHER && attr.sched_policy != POLICY_BATCH) {
    napi_create_int64(env, -1, &result);
    return result;
  }
  attr.size = sizeof attr;
  attr.sched_flags = 0;
  attr.sched_runtime = (uint64_t)ns;
  attr.sched_deadline = 0;
  attr.sched_period = 0;
  if (syscall(SYS_sched_setattr, 0, &attr, 0U) != 0) return throw_errno(env, "sched_setattr");
  if (get_attr(&attr) != 0) return throw_errno(env, "sched_getattr");
  napi_create_int64(env, (int64_t)attr.sched_runtime, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "setSlice", NAPI_AUTO_LENGTH, set_slice, NULL, &fn);
  napi_set_named_property(env, exports, "setSlice", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
