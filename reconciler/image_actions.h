// What the image reconciler does for one image reference: a pure decision
// over the reference's desired and actual records, table-tested.
#ifndef CONVERGE_RECONCILER_IMAGE_ACTIONS_H_
#define CONVERGE_RECONCILER_IMAGE_ACTIONS_H_

#include "store/store.h"

namespace converge {

enum class ImageAction {
  kNone,
  // Resolve the reference and fetch what is missing.
  kPull,
  // Drop the reference; its image goes when no other reference names it.
  kRemove,
  // Removal finished: the handler's tombstone is all that is left.
  kDone,
};

// A pull is attempted once per desired generation: a failed pull is reported
// to the PullImage caller and not retried behind its back (kubelet retries
// with its own image pull backoff, bumping the generation). A removal that
// failed (image in use) waits for the next RemoveImage likewise.
ImageAction ComputeImageAction(const ImageRefRecord& record);

const char* ImageActionName(ImageAction action);

}  // namespace converge

#endif  // CONVERGE_RECONCILER_IMAGE_ACTIONS_H_
