#include "executors/namespace/dedicated_thread.h"

#include <pthread.h>

#include "common/errors.h"

namespace converge {
namespace {

void* Trampoline(void* arg) {
  (*static_cast<absl::FunctionRef<void()>*>(arg))();
  return nullptr;
}

}  // namespace

absl::Status RunOnDedicatedThread(absl::FunctionRef<void()> fn) {
  pthread_t thread;
  int err = pthread_create(&thread, nullptr, &Trampoline, &fn);
  if (err != 0) return ErrnoError(err, "pthread_create");
  err = pthread_join(thread, nullptr);
  if (err != 0) return ErrnoError(err, "pthread_join");
  return absl::OkStatus();
}

}  // namespace converge
