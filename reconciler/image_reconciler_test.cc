#include "reconciler/image_reconciler.h"

#include <thread>

#include "common/testing/fake_clock.h"
#include "common/testing/status_testing.h"
#include "executors/image/testing/fake_image_executor.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "metrics/metrics.h"

namespace converge {
namespace {

constexpr char kBusybox[] = "docker.io/library/busybox:latest";
constexpr char kPinned[] = "docker.io/library/busybox:1.35";

class ImageReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = Store::Open(dir_.Sub("db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto metrics = ReconcilerMetrics::Create(&registry_);
    ASSERT_TRUE(metrics.ok());
    metrics_ = *std::move(metrics);
    ImageReconcilerOptions options;
    options.metrics = metrics_.get();
    auto reconciler = ImageReconciler::Create(store_.get(), &executor_, &credentials_, options,
                                              &clock_);
    ASSERT_TRUE(reconciler.ok()) << reconciler.status();
    reconciler_ = *std::move(reconciler);
  }

  // What the PullImage / RemoveImage handlers write.
  void Want(const std::string& reference, bool present, const std::string& digest = "") {
    std::optional<ImageRefRecord> current = store_->GetImageRef(reference);
    records::ImageDesired desired;
    desired.set_reference(reference);
    desired.set_present(present);
    desired.set_digest(digest);
    desired.set_generation(current && current->desired ? current->desired->generation() + 1 : 1);
    ASSERT_OK(store_->PutImageDesired({desired}));
  }

  records::ImageRefActual Actual(const std::string& reference) {
    std::optional<ImageRefRecord> record = store_->GetImageRef(reference);
    return record && record->actual ? *record->actual : records::ImageRefActual();
  }

  TempTestDir dir_;
  FakeClock clock_;
  metrics::Registry registry_;
  std::unique_ptr<ReconcilerMetrics> metrics_;
  std::unique_ptr<Store> store_;
  FakeImageExecutor executor_;
  PullCredentials credentials_;
  std::unique_ptr<ImageReconciler> reconciler_;
};

TEST_F(ImageReconcilerTest, PullRecordsTheImageAndItsName) {
  const PulledImage image = FakeImageExecutor::MakeImage("busybox");
  executor_.SetImage(kBusybox, image);
  Want(kBusybox, true);
  ASSERT_OK(reconciler_->ReconcileImage(kBusybox));
  records::ImageRefActual actual = Actual(kBusybox);
  EXPECT_EQ(actual.image_id(), image.id.str());
  EXPECT_EQ(actual.repo_digest(), "docker.io/library/busybox@" + image.top_digest.str());
  EXPECT_EQ(actual.observed_generation(), 1);
  ASSERT_TRUE(store_->GetImage(image.id.str()).has_value());
  EXPECT_EQ(store_->GetImage(image.id.str())->runtime_config().user(), "1000");
  // Converged: another pass does not pull again.
  ASSERT_OK(reconciler_->ReconcileImage(kBusybox));
  EXPECT_EQ(executor_.pulls(kBusybox), 1);
}

TEST_F(ImageReconcilerTest, FailureIsRecordedOncePerGeneration) {
  executor_.SetError(kBusybox, absl::UnauthenticatedError("registry said 401"));
  Want(kBusybox, true);
  ASSERT_OK(reconciler_->ReconcileImage(kBusybox));
  ASSERT_OK(reconciler_->ReconcileImage(kBusybox));
  EXPECT_EQ(executor_.pulls(kBusybox), 1);
  records::ImageRefActual actual = Actual(kBusybox);
  EXPECT_EQ(actual.attempted_generation(), 1);
  EXPECT_EQ(actual.observed_generation(), 0);
  EXPECT_EQ(actual.last_error_code(), static_cast<int>(absl::StatusCode::kUnauthenticated));
  EXPECT_TRUE(store_->ListImages().empty());
  // The next PullImage tries again.
  executor_.SetImage(kBusybox, FakeImageExecutor::MakeImage("busybox"));
  Want(kBusybox, true);
  ASSERT_OK(reconciler_->ReconcileImage(kBusybox));
  EXPECT_TRUE(Actual(kBusybox).last_error().empty());
  EXPECT_EQ(Actual(kBusybox).observed_generation(), 2);
}

TEST_F(ImageReconcilerTest, PinnedDigestIsPulledByDigestAndNamedByTag) {
  const PulledImage image = FakeImageExecutor::MakeImage("pinned");
  const std::string by_digest = "docker.io/library/busybox:1.35@" + image.top_digest.str();
  executor_.SetImage(by_digest, image);
  Want(kPinned, true, image.top_digest.str());
  ASSERT_OK(reconciler_->ReconcileImage(kPinned));
  EXPECT_EQ(executor_.pulls(by_digest), 1);
  EXPECT_EQ(Actual(kPinned).image_id(), image.id.str());
}

TEST_F(ImageReconcilerTest, MovedTagDropsTheImageItNamedBefore) {
  const PulledImage old_image = FakeImageExecutor::MakeImage("old");
  const PulledImage new_image = FakeImageExecutor::MakeImage("new");
  executor_.SetImage(kBusybox, old_image);
  Want(kBusybox, true);
  ASSERT_OK(reconciler_->ReconcileImage(kBusybox));
  executor_.SetImage(kBusybox, new_image);
  Want(kBusybox, true);
  ASSERT_OK(reconciler_->ReconcileImage(kBusybox));
  EXPECT_FALSE(store_->GetImage(old_image.id.str()).has_value());
  EXPECT_TRUE(store_->GetImage(new_image.id.str()).has_value());
  EXPECT_GE(executor_.collections(), 1);
}

TEST_F(ImageReconcilerTest, RemovalWaitsForContainersAndRemovesEveryName) {
  const PulledImage image = FakeImageExecutor::MakeImage("busybox");
  executor_.SetImage(kBusybox, image);
  executor_.SetImage(kPinned, image);
  Want(kBusybox, true);
  Want(kPinned, true);
  ASSERT_OK(reconciler_->ReconcileImage(kBusybox));
  ASSERT_OK(reconciler_->ReconcileImage(kPinned));

  executor_.SetInUse(image.layers[0].chain_id, true);
  Want(kBusybox, false);
  Want(kPinned, false);
  ASSERT_OK(reconciler_->ReconcileImage(kBusybox));
  ASSERT_OK(reconciler_->ReconcileImage(kPinned));
  EXPECT_EQ(Actual(kBusybox).last_error_code(),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(Actual(kPinned).last_error_code(),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(store_->GetImage(image.id.str()).has_value());

  executor_.SetInUse(image.layers[0].chain_id, false);
  Want(kBusybox, false);
  Want(kPinned, false);
  ASSERT_OK(reconciler_->ReconcileImage(kBusybox));
  ASSERT_OK(reconciler_->ReconcileImage(kPinned));
  EXPECT_FALSE(store_->GetImageRef(kBusybox)->actual.has_value());
  EXPECT_FALSE(store_->GetImage(image.id.str()).has_value());
  EXPECT_TRUE(executor_.last_kept_configs().empty());
}

TEST_F(ImageReconcilerTest, StartDropsUnnamedImagesAndResumesPulls) {
  const PulledImage orphan = FakeImageExecutor::MakeImage("orphan");
  records::ImageRefActual ref;
  ref.set_reference("docker.io/library/gone:latest");
  records::ImageRecord record = ImageRecordOf(orphan, clock_.Now());
  ASSERT_OK(store_->PutImageRef(ref, &record));  // names no image: image_id empty
  executor_.SetImage(kBusybox, FakeImageExecutor::MakeImage("busybox"));
  Want(kBusybox, true);
  ASSERT_OK(reconciler_->Start());
  auto [done_record, done] = store_->AwaitImageRef(
      kBusybox, absl::Now() + absl::Seconds(10),
      [](const ImageRefRecord& r) { return r.actual && r.actual->observed_generation() >= 1; });
  EXPECT_TRUE(done);
  // The first sweep runs beside the workers.
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (store_->GetImage(orphan.id.str()).has_value() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_FALSE(store_->GetImage(orphan.id.str()).has_value());
  EXPECT_TRUE(reconciler_->ImageStoreUsageNow().ok());
  reconciler_->Stop();
}

TEST_F(ImageReconcilerTest, CollectionWaitsForPullsInFlight) {
  const PulledImage old_image = FakeImageExecutor::MakeImage("old");
  executor_.SetImage(kBusybox, old_image);
  Want(kBusybox, true);
  ASSERT_OK(reconciler_->ReconcileImage(kBusybox));
  const int collections = executor_.collections();

  // A pull of another image is in flight (it may have found layers present
  // that no record names yet) while the first image is removed.
  absl::Notification gate;
  executor_.SetPullGate(&gate);
  executor_.SetImage(kPinned, FakeImageExecutor::MakeImage("new"));
  Want(kPinned, true);
  std::thread pull([&] { EXPECT_OK(reconciler_->ReconcileImage(kPinned)); });
  while (executor_.pulls_waiting() == 0) absl::SleepFor(absl::Milliseconds(1));
  Want(kBusybox, false);
  ASSERT_OK(reconciler_->ReconcileImage(kBusybox));
  EXPECT_FALSE(store_->GetImage(old_image.id.str()).has_value());
  EXPECT_EQ(executor_.collections(), collections);  // owed, not run

  // The pull ends, records its image, and the owed collection runs keeping it.
  gate.Notify();
  pull.join();
  EXPECT_EQ(executor_.collections(), collections + 1);
  EXPECT_EQ(executor_.last_kept_configs(),
            std::set<Digest>{FakeImageExecutor::MakeImage("new").config_digest});
}

}  // namespace
}  // namespace converge
