#include "reconciler/image_actions.h"

namespace converge {

ImageAction ComputeImageAction(const ImageRefRecord& record) {
  if (!record.desired) return ImageAction::kNone;
  const bool attempted =
      record.actual && record.actual->attempted_generation() >= record.desired->generation();
  if (record.desired->present()) return attempted ? ImageAction::kNone : ImageAction::kPull;
  if (!record.actual) return ImageAction::kDone;
  return attempted ? ImageAction::kNone : ImageAction::kRemove;
}

const char* ImageActionName(ImageAction action) {
  switch (action) {
    case ImageAction::kNone:
      return "none";
    case ImageAction::kPull:
      return "pull_image";
    case ImageAction::kRemove:
      return "remove_image";
    case ImageAction::kDone:
      return "done";
  }
  return "unknown";
}

}  // namespace converge
