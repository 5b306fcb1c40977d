// One named spdlog logger per module ("cri", "reconciler", ...), sharing the
// default logger's sinks and level.
//
//   NamedLogger("reconciler")->info("reconcile id={} plan={}", id, plan);
#ifndef CONVERGE_COMMON_LOG_H_
#define CONVERGE_COMMON_LOG_H_

#include <memory>
#include <string>

#include "spdlog/spdlog.h"

namespace converge {

std::shared_ptr<spdlog::logger> NamedLogger(const std::string& name);

}  // namespace converge

#endif  // CONVERGE_COMMON_LOG_H_
