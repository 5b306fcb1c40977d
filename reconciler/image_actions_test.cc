#include "reconciler/image_actions.h"

#include "gtest/gtest.h"

namespace converge {
namespace {

struct Case {
  const char* name;
  // desired: -1 absent, else generation; present flag.
  int64_t desired_generation;
  bool present;
  // actual: -1 absent, else attempted generation.
  int64_t attempted;
  ImageAction want;
};

TEST(ComputeImageActionTest, Table) {
  const Case cases[] = {
      {"nothing desired", -1, true, -1, ImageAction::kNone},
      {"actual without desired (tombstone deleted)", -1, true, 3, ImageAction::kNone},
      {"first pull", 1, true, -1, ImageAction::kPull},
      {"pull again after a new PullImage", 2, true, 1, ImageAction::kPull},
      {"pulled (or failed) at this generation", 2, true, 2, ImageAction::kNone},
      {"remove a pulled reference", 3, false, 2, ImageAction::kRemove},
      {"removal attempted and failed (in use)", 3, false, 3, ImageAction::kNone},
      {"removed: only the tombstone is left", 3, false, -1, ImageAction::kDone},
  };
  for (const Case& c : cases) {
    ImageRefRecord record{"docker.io/library/busybox:latest", std::nullopt, std::nullopt};
    if (c.desired_generation >= 0) {
      record.desired.emplace();
      record.desired->set_generation(c.desired_generation);
      record.desired->set_present(c.present);
    }
    if (c.attempted >= 0) {
      record.actual.emplace();
      record.actual->set_attempted_generation(c.attempted);
    }
    EXPECT_EQ(ComputeImageAction(record), c.want) << c.name;
  }
}

}  // namespace
}  // namespace converge
