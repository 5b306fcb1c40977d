#include "executors/image/layer_store.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

namespace fs = std::filesystem;

LayerStore::UnpackFn WriteFile(const std::string& name, Digest diff_id, std::atomic<int>* calls) {
  return [=](const std::string& dir) -> absl::StatusOr<LayerStore::Unpacked> {
    ++*calls;
    std::ofstream(dir + "/" + name) << "x";
    // A directory without permissions, as layers carry: removal must cope.
    fs::create_directory(dir + "/locked");
    std::ofstream(dir + "/locked/file") << "y";
    ::chmod((dir + "/locked").c_str(), 0);
    return LayerStore::Unpacked{diff_id, {1, 2}};
  };
}

TEST(LayerStoreTest, UnpacksOncePublishesAtomicallyAndRemoves) {
  TempTestDir dir;
  ASSERT_OK_AND_ASSIGN(auto layers, LayerStore::Open(dir.Sub("layers")));
  const Digest chain = Digest::Of("chain"), diff = Digest::Of("diff");
  std::atomic<int> calls{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] { EXPECT_OK(layers->Ensure(chain, diff, WriteFile("a", diff, &calls))); });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(fs::exists(layers->Dir(chain) + "/a"));
  EXPECT_EQ(layers->DiskUsage()->bytes, 1u);
  EXPECT_EQ(*layers->List(), std::vector<Digest>{chain});
  ASSERT_OK(layers->Remove(chain));
  ASSERT_OK(layers->Remove(chain));
  EXPECT_FALSE(layers->Has(chain));
  EXPECT_TRUE(fs::is_empty(dir.Sub("layers")));
}

TEST(LayerStoreTest, WrongDiffIdKeepsNothing) {
  TempTestDir dir;
  ASSERT_OK_AND_ASSIGN(auto layers, LayerStore::Open(dir.Sub("layers")));
  std::atomic<int> calls{0};
  absl::Status status = layers->Ensure(Digest::Of("chain"), Digest::Of("want"),
                                       WriteFile("a", Digest::Of("got"), &calls));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_TRUE(fs::is_empty(dir.Sub("layers")));
}

TEST(LayerStoreTest, OpenRemovesWhatACrashLeft) {
  TempTestDir dir;
  fs::create_directories(dir.Sub("layers/tmp-abc-0/fs/x"));
  ASSERT_OK_AND_ASSIGN(auto layers, LayerStore::Open(dir.Sub("layers")));
  EXPECT_TRUE(fs::is_empty(dir.Sub("layers")));
}

}  // namespace
}  // namespace converge
