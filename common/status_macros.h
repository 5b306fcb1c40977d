// Early-return helpers for absl::Status / absl::StatusOr, which Debian's absl
// (20220623) does not ship.
//
//   CONVERGE_RETURN_IF_ERROR(store.Put(record));
//   CONVERGE_ASSIGN_OR_RETURN(auto handles, executor.Create(request));
#ifndef CONVERGE_COMMON_STATUS_MACROS_H_
#define CONVERGE_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CONVERGE_RETURN_IF_ERROR(expr)             \
  do {                                             \
    ::absl::Status converge_status_ = (expr);      \
    if (!converge_status_.ok()) return converge_status_; \
  } while (0)

#define CONVERGE_STATUS_CONCAT_INNER_(a, b) a##b
#define CONVERGE_STATUS_CONCAT_(a, b) CONVERGE_STATUS_CONCAT_INNER_(a, b)

#define CONVERGE_ASSIGN_OR_RETURN(lhs, expr)                                   \
  CONVERGE_ASSIGN_OR_RETURN_IMPL_(                                             \
      CONVERGE_STATUS_CONCAT_(converge_statusor_, __LINE__), lhs, expr)

#define CONVERGE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                    \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = std::move(statusor).value()

#endif  // CONVERGE_COMMON_STATUS_MACROS_H_
