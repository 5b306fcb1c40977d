// RunOnDedicatedThread runs a function on a fresh, short-lived kernel thread
// and waits for it. converged is multi-threaded (gRPC), so it must not fork;
// per-thread kernel state changes such as unshare(CLONE_NEWNET) or
// setns(fd, CLONE_NEWNET) are legal in a thread, and doing them on a thread
// that exits right after means they never leak into a pool thread.
//
//   absl::Status inner;
//   CONVERGE_RETURN_IF_ERROR(RunOnDedicatedThread([&] {
//     if (setns(fd, CLONE_NEWNET) != 0) inner = ErrnoError(errno, "setns");
//   }));
//   CONVERGE_RETURN_IF_ERROR(inner);
//
// Uses pthread_create rather than std::thread so that running out of threads
// (EAGAIN under a pids limit) is an error status, not an exception.
#ifndef CONVERGE_EXECUTORS_NAMESPACE_DEDICATED_THREAD_H_
#define CONVERGE_EXECUTORS_NAMESPACE_DEDICATED_THREAD_H_

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace converge {

// Returns an error only if the thread could not be started or joined; `fn`
// reports its own result through captured state.
absl::Status RunOnDedicatedThread(absl::FunctionRef<void()> fn);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NAMESPACE_DEDICATED_THREAD_H_
