#include "executors/image/content_store.h"

#include <filesystem>

#include "common/testing/status_testing.h"
#include "gtest/gtest.h"

namespace converge {
namespace {

TEST(ContentStoreTest, StoresVerifiedBlobs) {
  TempTestDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, ContentStore::Open(dir.Sub("content")));
  const Digest digest = Digest::Of("hello");
  EXPECT_FALSE(store->Has(digest));
  ASSERT_OK_AND_ASSIGN(auto writer, store->NewWriter(digest, 5));
  ASSERT_OK(writer->Write("hel"));
  ASSERT_OK(writer->Write("lo"));
  EXPECT_FALSE(store->Has(digest));  // not visible before Commit
  ASSERT_OK(writer->Commit());
  EXPECT_TRUE(store->Has(digest));
  EXPECT_EQ(*store->Read(digest, 100), "hello");
  EXPECT_EQ(*store->Size(digest), 5);
  EXPECT_EQ(store->Read(digest, 2).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*store->List(), std::vector<Digest>{digest});
  ASSERT_OK(store->Delete(digest));
  ASSERT_OK(store->Delete(digest));  // idempotent
  EXPECT_FALSE(store->Has(digest));
}

TEST(ContentStoreTest, RejectsWrongContentAndKeepsNothing) {
  TempTestDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, ContentStore::Open(dir.Sub("content")));
  const Digest digest = Digest::Of("hello");
  EXPECT_EQ(store->Put(digest, "hellO").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store->Put(digest, "hell").code(), absl::StatusCode::kDataLoss);
  {
    ASSERT_OK_AND_ASSIGN(auto writer, store->NewWriter(digest, 5));
    EXPECT_EQ(writer->Write("hello!").code(), absl::StatusCode::kDataLoss);
  }
  EXPECT_FALSE(store->Has(digest));
  EXPECT_TRUE(std::filesystem::is_empty(dir.Sub("content/ingest")));
}

TEST(ContentStoreTest, StoresUnknownContentUnderItsDigest) {
  TempTestDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, ContentStore::Open(dir.Sub("content")));
  ASSERT_OK_AND_ASSIGN(auto writer, store->NewWriter(Digest(), -1));
  ASSERT_OK(writer->Write("layer"));
  ASSERT_OK(writer->Commit());
  EXPECT_EQ(writer->digest(), Digest::Of("layer"));
  EXPECT_TRUE(store->Has(Digest::Of("layer")));
}

TEST(ContentStoreTest, OpenClearsIngestLeftByACrash) {
  TempTestDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto store, ContentStore::Open(dir.Sub("content")));
    ASSERT_OK_AND_ASSIGN(auto writer, store->NewWriter(Digest::Of("x"), 1));
    ASSERT_OK(writer->Write("x"));
    // Simulates kill -9: the writer's destructor never runs.
    writer.release();
  }
  EXPECT_FALSE(std::filesystem::is_empty(dir.Sub("content/ingest")));
  ASSERT_OK_AND_ASSIGN(auto store, ContentStore::Open(dir.Sub("content")));
  EXPECT_TRUE(std::filesystem::is_empty(dir.Sub("content/ingest")));
  EXPECT_FALSE(store->Has(Digest::Of("x")));
}

}  // namespace
}  // namespace converge
