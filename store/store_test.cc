#include "store/store.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/time/clock.h"
#include "common/testing/status_testing.h"
#include "gtest/gtest.h"
#include "store/view.h"

namespace converge {
namespace {

records::SandboxDesired Desired(const std::string& id, const std::string& name,
                                records::SandboxStage stage, int64_t generation) {
  records::SandboxDesired desired;
  desired.set_schema_version(kSchemaVersion);
  desired.set_id(id);
  desired.set_stage(stage);
  desired.set_generation(generation);
  auto* metadata = desired.mutable_config()->mutable_metadata();
  metadata->set_name(name);
  metadata->set_namespace_("default");
  metadata->set_uid("uid-" + name);
  metadata->set_attempt(0);
  return desired;
}

records::SandboxActual Actual(const std::string& id, int64_t observed) {
  records::SandboxActual actual;
  actual.set_schema_version(kSchemaVersion);
  actual.set_id(id);
  actual.set_phase(records::SANDBOX_PHASE_READY);
  actual.set_observed_generation(observed);
  return actual;
}

class StoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> OpenStore() { return OpenStoreAt(dir_.string()); }
  std::unique_ptr<Store> OpenStoreAt(const std::string& dir) {
    auto store = Store::Open(dir);
    EXPECT_TRUE(store.ok()) << store.status();
    return *std::move(store);
  }

  TempTestDir tmp_;
  const std::filesystem::path dir_ = tmp_.path() / "db";
};

TEST_F(StoreTest, IndexSurvivesReopen) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->PutSandboxDesired(Desired("a", "pod-a", records::SANDBOX_STAGE_READY, 1)).ok());
    ASSERT_TRUE(store->PutSandboxActual(Actual("a", 1), ActualWriter::Durability::kBuffered).ok());
    ASSERT_TRUE(store->PutSandboxActual(Actual("orphan", 0), ActualWriter::Durability::kSynced).ok());
  }
  auto store = OpenStore();
  auto sandboxes = store->ListSandboxes();
  ASSERT_EQ(sandboxes.size(), 2u);
  EXPECT_EQ(sandboxes[0].id, "a");
  ASSERT_TRUE(sandboxes[0].desired.has_value());
  EXPECT_EQ(sandboxes[0].desired->config().metadata().name(), "pod-a");
  EXPECT_EQ(sandboxes[0].actual->observed_generation(), 1);
  EXPECT_EQ(sandboxes[1].id, "orphan");
  EXPECT_FALSE(sandboxes[1].desired.has_value());
  EXPECT_EQ(store->FindSandboxByName(sandboxes[0].desired->config().metadata()),
            std::optional<std::string>("a"));
}

TEST_F(StoreTest, ContainerIndexFollowsBothSidesAndSurvivesReopen) {
  {
    auto store = OpenStore();
    records::SandboxDesired desired = Desired("a", "pod-a", records::SANDBOX_STAGE_READY, 1);
    desired.add_containers()->set_id("c1");
    desired.add_containers()->set_id("c2");
    ASSERT_TRUE(store->PutSandboxDesired(desired).ok());
    records::SandboxActual actual = Actual("a", 1);
    actual.add_containers()->set_id("c1");
    actual.add_containers()->set_id("orphan-c");
    ASSERT_TRUE(store->PutSandboxActual(actual, ActualWriter::Durability::kBuffered).ok());
    EXPECT_EQ(store->FindContainerSandbox("c2"), std::optional<std::string>("a"));
    EXPECT_EQ(store->FindContainerSandbox("orphan-c"), std::optional<std::string>("a"));
    // The desired side drops c2: it is gone from the index.
    desired.mutable_containers()->DeleteSubrange(1, 1);
    ASSERT_TRUE(store->PutSandboxDesired(desired).ok());
    EXPECT_EQ(store->FindContainerSandbox("c2"), std::nullopt);
  }
  auto store = OpenStore();
  EXPECT_EQ(store->ContainerIds(), (std::vector<std::string>{"c1", "orphan-c"}));
  EXPECT_EQ(store->FindContainerSandbox("c1"), std::optional<std::string>("a"));
  ASSERT_TRUE(store->DeleteSandboxActual("a").ok());
  EXPECT_EQ(store->ContainerIds(), (std::vector<std::string>{"c1"}));
  ASSERT_TRUE(store->DeleteSandboxDesired("a").ok());
  EXPECT_TRUE(store->ContainerIds().empty());
  EXPECT_EQ(store->FindContainerSandbox("c1"), std::nullopt);
}

TEST_F(StoreTest, TombstoneReleasesNameAndDeleteDropsRecord) {
  auto store = OpenStore();
  auto desired = Desired("a", "pod-a", records::SANDBOX_STAGE_READY, 1);
  ASSERT_TRUE(store->PutSandboxDesired(desired).ok());
  ASSERT_EQ(store->FindSandboxByName(desired.config().metadata()), "a");

  desired.set_stage(records::SANDBOX_STAGE_REMOVED);
  desired.set_generation(2);
  ASSERT_TRUE(store->PutSandboxDesired(desired).ok());
  EXPECT_EQ(store->FindSandboxByName(desired.config().metadata()), std::nullopt);
  ASSERT_TRUE(store->GetSandbox("a").has_value());

  ASSERT_TRUE(store->DeleteSandboxDesired("a").ok());
  EXPECT_FALSE(store->GetSandbox("a").has_value());
  ASSERT_TRUE(store->DeleteSandboxDesired("a").ok()) << "delete is idempotent";
}

TEST_F(StoreTest, NameOfNewSandboxIsNotReleasedByOldTombstone) {
  auto store = OpenStore();
  auto old_desired = Desired("old", "pod", records::SANDBOX_STAGE_REMOVED, 3);
  ASSERT_TRUE(store->PutSandboxDesired(old_desired).ok());
  ASSERT_TRUE(store->PutSandboxDesired(Desired("new", "pod", records::SANDBOX_STAGE_READY, 1)).ok());
  ASSERT_TRUE(store->DeleteSandboxDesired("old").ok());
  EXPECT_EQ(store->FindSandboxByName(old_desired.config().metadata()), "new");
}

TEST_F(StoreTest, AwaitWakesOnWriteAndTimesOut) {
  auto store = OpenStore();
  ASSERT_TRUE(store->PutSandboxDesired(Desired("a", "pod-a", records::SANDBOX_STAGE_READY, 1)).ok());
  std::thread writer([&] {
    absl::SleepFor(absl::Milliseconds(20));
    ASSERT_TRUE(store->PutSandboxActual(Actual("a", 1), ActualWriter::Durability::kBuffered).ok());
  });
  auto [record, done] = store->AwaitSandbox(
      "a", absl::Now() + absl::Seconds(30), [](const SandboxRecord& r) {
        return r.actual.has_value() && r.actual->observed_generation() >= 1;
      });
  writer.join();
  EXPECT_TRUE(done);
  EXPECT_EQ(record.actual->observed_generation(), 1);

  auto [missing, missing_done] = store->AwaitSandbox(
      "absent", absl::Now() + absl::Milliseconds(10),
      [](const SandboxRecord& r) { return r.desired.has_value(); });
  EXPECT_FALSE(missing_done);
  EXPECT_EQ(missing.id, "absent");
}

TEST_F(StoreTest, ListenersSeeEveryWrite) {
  auto store = OpenStore();
  std::vector<std::string> seen;
  store->AddListener([&](const std::string& id, StateReader::Family family) {
    seen.push_back(id + (family == StateReader::Family::kDesired ? ":desired" : ":actual"));
  });
  ASSERT_TRUE(store->PutSandboxDesired(Desired("a", "pod-a", records::SANDBOX_STAGE_READY, 1)).ok());
  ASSERT_TRUE(store->PutSandboxActual(Actual("a", 1), ActualWriter::Durability::kBuffered).ok());
  ASSERT_TRUE(store->DeleteSandboxActual("a").ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"a:desired", "a:actual", "a:actual"}));
}

TEST_F(StoreTest, ViewReadsWhileOpenAndAfterClose) {
  auto store = OpenStore();
  ASSERT_TRUE(store->PutSandboxDesired(Desired("a", "pod-a", records::SANDBOX_STAGE_READY, 1)).ok());
  ASSERT_TRUE(store->PutSandboxActual(Actual("a", 1), ActualWriter::Durability::kBuffered).ok());
  {
    auto view = StoreView::Open(dir_.string());
    ASSERT_TRUE(view.ok()) << view.status();
    auto sandboxes = (*view)->ListSandboxes();
    ASSERT_TRUE(sandboxes.ok()) << sandboxes.status();
    ASSERT_EQ(sandboxes->size(), 1u);
    EXPECT_EQ((*sandboxes)[0].actual->observed_generation(), 1);
    auto boot = (*view)->GetMeta("schema_version");
    ASSERT_TRUE(boot.ok());
    EXPECT_EQ(**boot, "1");
  }
  store.reset();
  auto view = StoreView::Open(dir_.string());
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ((*view)->ListSandboxes()->size(), 1u);
}

TEST_F(StoreTest, ViewOfMissingDatabaseIsNotFound) {
  auto view = StoreView::Open((dir_ / "nothing").string());
  EXPECT_EQ(view.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, QuarantinesRecordsFromNewerSchema) {
  {
    auto store = OpenStore();
    auto desired = Desired("a", "pod-a", records::SANDBOX_STAGE_READY, 1);
    desired.set_schema_version(kSchemaVersion + 1);
    ASSERT_TRUE(store->PutSandboxDesired(desired).ok());
    ASSERT_TRUE(store->PutSandboxActual(Actual("a", 1), ActualWriter::Durability::kBuffered).ok());
    ASSERT_TRUE(store->PutSandboxDesired(Desired("b", "pod-b", records::SANDBOX_STAGE_READY, 1)).ok());
  }
  // One unreadable record must not keep the daemon from starting; it is set
  // aside whole (both sides) and named, so nothing of it gets torn down.
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->QuarantinedIds(), std::vector<std::string>{"a"});
  EXPECT_FALSE(store->GetSandbox("a").has_value());
  EXPECT_TRUE(store->GetSandbox("b").has_value());
}

TEST_F(StoreTest, QuarantinesImageRecordsApartFromSandboxes) {
  {
    auto store = OpenStore();
    records::ImageRefActual ref;
    ref.set_schema_version(kSchemaVersion + 1);
    ref.set_reference("docker.io/library/busybox:latest");
    ASSERT_OK(store->PutImageRef(ref, nullptr));
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->QuarantinedImageKeys(),
            std::vector<std::string>{"ref/docker.io/library/busybox:latest"});
  EXPECT_TRUE(store->QuarantinedIds().empty());
  EXPECT_TRUE(store->ListImageRefs().empty());
}

TEST_F(StoreTest, CancelWaitsEndsWaitersAndCancelledCallbackIsPolled) {
  auto store = OpenStore();
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(20));
    store->CancelWaits();
  });
  auto [record, done] = store->AwaitSandbox("x", absl::InfiniteFuture(),
                                            [](const SandboxRecord& r) { return false; });
  canceller.join();
  EXPECT_FALSE(done);
  EXPECT_TRUE(store->WaitsCancelled());

  auto other = OpenStoreAt(tmp_.Sub("db2"));
  std::atomic<bool> gone{false};
  std::thread client([&] {
    absl::SleepFor(absl::Milliseconds(20));
    gone = true;
  });
  auto [r2, done2] = other->AwaitSandbox(
      "x", absl::InfiniteFuture(), [](const SandboxRecord&) { return false; },
      [&] { return gone.load(); });
  client.join();
  EXPECT_FALSE(done2);
}

TEST_F(StoreTest, WriteHealthAndListenerRemoval) {
  auto store = OpenStore();
  EXPECT_TRUE(store->WriteHealth().ok());
  int calls = 0;
  auto id = store->AddListener([&](const std::string&, StateReader::Family) { ++calls; });
  ASSERT_TRUE(store->PutSandboxDesired(Desired("a", "pod-a", records::SANDBOX_STAGE_READY, 1)).ok());
  store->RemoveListener(id);
  ASSERT_TRUE(store->PutSandboxDesired(Desired("a", "pod-a", records::SANDBOX_STAGE_READY, 2)).ok());
  EXPECT_EQ(calls, 1);
}

TEST_F(StoreTest, ImageRefsAndImagesSurviveReopenAndWakeWaiters) {
  const std::string ref = "docker.io/library/busybox:latest";
  {
    auto store = OpenStore();
    records::ImageDesired desired;
    desired.set_reference(ref);
    desired.set_present(true);
    desired.set_generation(1);
    std::vector<std::string> seen;
    store->AddListener([&](const std::string& key, StateReader::Family family) {
      if (family == StateReader::Family::kImageDesired) seen.push_back("desired:" + key);
      if (family == StateReader::Family::kImages) seen.push_back("images:" + key);
    });
    ASSERT_OK(store->PutImageDesired({desired}));
    std::thread writer([&] {
      absl::SleepFor(absl::Milliseconds(50));
      records::ImageRefActual actual;
      actual.set_reference(ref);
      actual.set_image_id("sha256:" + std::string(64, 'a'));
      actual.set_observed_generation(1);
      records::ImageRecord image;
      image.set_id(actual.image_id());
      image.set_size(42);
      EXPECT_OK(store->PutImageRef(actual, &image));
    });
    auto [record, done] = store->AwaitImageRef(
        ref, absl::Now() + absl::Seconds(10),
        [](const ImageRefRecord& r) { return r.actual.has_value(); });
    writer.join();
    EXPECT_TRUE(done);
    EXPECT_TRUE(IsConverged(record));
    EXPECT_EQ(seen, (std::vector<std::string>{"desired:" + ref, "images:" + ref}));
  }
  auto store = OpenStore();
  ASSERT_EQ(store->ListImageRefs().size(), 1u);
  ASSERT_EQ(store->ListImages().size(), 1u);
  EXPECT_EQ(store->GetImage("sha256:" + std::string(64, 'a'))->size(), 42);
  ASSERT_OK(store->DeleteImageRef(ref));
  ASSERT_OK(store->DeleteImageDesired(ref));
  EXPECT_FALSE(store->GetImageRef(ref).has_value());
  ASSERT_OK(store->DeleteImage("sha256:" + std::string(64, 'a')));
  EXPECT_TRUE(store->ListImages().empty());
  auto view = StoreView::Open(dir_.string());
  ASSERT_TRUE(view.ok()) << view.status();
  auto images = (*view)->ListImages();
  ASSERT_TRUE(images.ok());
  EXPECT_TRUE(images->refs.empty());
}

}  // namespace
}  // namespace converge
