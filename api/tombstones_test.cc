#include "api/tombstones.h"

#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

records::SandboxDesired Tombstone(const std::string& id) {
  records::SandboxDesired desired;
  desired.set_id(id);
  desired.set_stage(records::SANDBOX_STAGE_REMOVED);
  desired.set_generation(3);
  desired.mutable_config()->mutable_metadata()->set_name(id);
  return desired;
}

TEST(TombstoneJanitor, SweepsAtStartAndPurgesWhenActualGoes) {
  TempTestDir dir;
  auto store = *Store::Open(dir.Sub("db"));
  // Left by a Remove that timed out before teardown finished.
  ASSERT_OK(store->PutSandboxDesired(Tombstone("done")));
  ASSERT_OK(store->PutSandboxDesired(Tombstone("tearing-down")));
  records::SandboxActual actual;
  actual.set_id("tearing-down");
  ASSERT_OK(store->PutSandboxActual(actual, ActualWriter::Durability::kBuffered));
  records::SandboxDesired live = Tombstone("live");
  live.set_stage(records::SANDBOX_STAGE_NOTREADY);
  ASSERT_OK(store->PutSandboxDesired(live));

  TombstoneJanitor janitor(store.get());
  EXPECT_FALSE(store->GetSandbox("done").has_value());
  EXPECT_TRUE(store->GetSandbox("tearing-down").has_value());
  EXPECT_TRUE(store->GetSandbox("live").has_value());

  ASSERT_OK(store->DeleteSandboxActual("tearing-down"));
  EXPECT_FALSE(store->GetSandbox("tearing-down").has_value());
  EXPECT_TRUE(store->GetSandbox("live").has_value()) << "only tombstones are purged";
}

}  // namespace
}  // namespace converge
