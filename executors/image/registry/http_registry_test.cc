#include "executors/image/registry/http_registry.h"

#include <atomic>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/testing/status_testing.h"
#include "executors/image/content_store.h"
#include "executors/image/registry/testing/fake_registry_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace converge::registry {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Reply = FakeRegistryServer::Reply;

constexpr char kRepo[] = "team/app";

std::string ManifestJson(const Digest& config, const Digest& layer, int64_t layer_size,
                         const std::string& media_type = oci::kOciManifest) {
  return absl::StrCat(R"({"schemaVersion":2,"mediaType":")", media_type,
                      R"(","config":{"mediaType":")", oci::kOciConfig, R"(","digest":")",
                      config.str(), R"(","size":2},"layers":[{"mediaType":")", oci::kOciLayerGzip,
                      R"(","digest":")", layer.str(), R"(","size":)", layer_size, "}]}");
}

std::string BlobData(size_t size) {
  std::string data(size, '\0');
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>(i * 7 % 251);
  return data;
}

oci::Descriptor BlobDescriptor(const std::string& data) {
  oci::Descriptor descriptor;
  descriptor.media_type = oci::kOciLayerGzip;
  descriptor.digest = Digest::Of(data);
  descriptor.size = static_cast<int64_t>(data.size());
  return descriptor;
}

class HttpRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.user_agent = "converge/test";
    options_.initial_backoff = absl::Milliseconds(1);
    options_.max_retry_delay = absl::Milliseconds(20);
    layer_ = BlobData(200 << 10);
    config_digest_ = server_.AddBlob(kRepo, "{}");
    layer_digest_ = server_.AddBlob(kRepo, layer_);
    manifest_ = ManifestJson(config_digest_, layer_digest_, layer_.size());
    manifest_digest_ = server_.AddManifest(kRepo, "v1", oci::kOciManifest, manifest_);
  }

  // The fake is the origin of its own host, reachable over plain HTTP only
  // because it is configured insecure (an https attempt fails first).
  RegistryHosts Hosts() const { return RegistryHosts{{}, {server_.host()}}; }

  ImageReference Ref(const std::string& suffix = ":v1") const {
    auto ref = ParseImageReference(absl::StrCat(server_.host(), "/", kRepo, suffix));
    EXPECT_OK(ref.status());
    return *ref;
  }

  absl::StatusOr<Resolution> Resolve(const ImageReference& ref,
                                     const Credentials& credentials = {}) {
    return HttpRegistry(Hosts(), options_).Resolve(ref, credentials);
  }

  // Fetches the blob into a fresh content store writer and commits it.
  absl::Status FetchAndCommit(RegistrySession& session, const oci::Descriptor& descriptor) {
    auto store = ContentStore::Open(dir_.Sub("store"));
    if (!store.ok()) return store.status();
    auto writer = (*store)->NewWriter(descriptor.digest, descriptor.size);
    if (!writer.ok()) return writer.status();
    absl::Status fetched = session.FetchBlob(descriptor, **writer);
    return fetched.ok() ? (*writer)->Commit() : fetched;
  }

  std::vector<FakeRegistryServer::LoggedRequest> Logged(const std::string& path_part) const {
    std::vector<FakeRegistryServer::LoggedRequest> out;
    for (const auto& logged : server_.requests()) {
      if (absl::StrContains(logged.path, path_part)) out.push_back(logged);
    }
    return out;
  }

  TempTestDir dir_;
  FakeRegistryServer server_;
  ClientOptions options_;
  std::string layer_;
  Digest config_digest_, layer_digest_, manifest_digest_;
  std::string manifest_;
};

TEST_F(HttpRegistryTest, ResolvesByTagAndByDigest) {
  ASSERT_OK_AND_ASSIGN(Resolution by_tag, Resolve(Ref()));
  EXPECT_EQ(by_tag.session->endpoint(), server_.url());
  EXPECT_EQ(by_tag.top.media_type, oci::kOciManifest);
  EXPECT_EQ(by_tag.top.digest, manifest_digest_);
  EXPECT_EQ(by_tag.top.size, static_cast<int64_t>(manifest_.size()));
  EXPECT_EQ(by_tag.body, manifest_);
  auto requests = Logged("/manifests/");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, absl::StrCat("/v2/", kRepo, "/manifests/v1"));
  EXPECT_EQ(requests[0].accept, oci::kAcceptManifests);

  // With both a tag and a digest, the digest is what is asked for.
  ASSERT_OK_AND_ASSIGN(Resolution by_digest, Resolve(Ref(":v1@" + manifest_digest_.str())));
  EXPECT_EQ(by_digest.top.digest, manifest_digest_);
  EXPECT_EQ(Logged("/manifests/").back().path,
            absl::StrCat("/v2/", kRepo, "/manifests/", manifest_digest_.str()));
}

TEST_F(HttpRegistryTest, MediaTypesOfIndexesAndDockerSchema2) {
  const std::string index =
      absl::StrCat(R"({"schemaVersion":2,"manifests":[{"mediaType":")", oci::kDockerManifest,
                   R"(","digest":")", manifest_digest_.str(), R"(","size":)", manifest_.size(),
                   R"(,"platform":{"os":"linux","architecture":"amd64"}}]})");
  struct Case {
    std::string tag, content_type, body, want;
  } cases[] = {
      {"list", oci::kDockerManifestList, index, oci::kDockerManifestList},
      {"docker", oci::kDockerManifest,
       ManifestJson(config_digest_, layer_digest_, layer_.size(), oci::kDockerManifest),
       oci::kDockerManifest},
      {"charset", std::string(oci::kOciIndex) + "; charset=utf-8", index, oci::kOciIndex},
      // A generic content type: the document's shape decides.
      {"generic", "application/json", index, oci::kOciIndex},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.tag);
    Digest digest = server_.AddManifest(kRepo, c.tag, c.content_type, c.body);
    ASSERT_OK_AND_ASSIGN(Resolution resolved, Resolve(Ref(":" + c.tag)));
    EXPECT_EQ(resolved.top.media_type, c.want);
    EXPECT_EQ(resolved.top.digest, digest);
    ASSERT_OK_AND_ASSIGN(oci::Index parsed, oci::ParseIndex(index));
    if (oci::IsIndexMediaType(resolved.top.media_type)) {
      ASSERT_OK_AND_ASSIGN(std::string child, resolved.session->FetchManifest(parsed.manifests[0]));
      EXPECT_EQ(child, manifest_);
    }
  }
}

TEST_F(HttpRegistryTest, ManifestNotHashingToItsDigestIsDataLoss) {
  const Digest claimed = Digest::Of("something else");
  server_.AddRawManifest(kRepo, claimed.str(), oci::kOciManifest, manifest_);
  auto resolved = Resolve(Ref("@" + claimed.str()));
  EXPECT_EQ(resolved.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(resolved.status().message(), HasSubstr(claimed.str()));

  // By tag, the registry's Docker-Content-Digest is the claim checked.
  server_.InjectReplies(
      "/manifests/v1",
      {{200,
        {{"Content-Type", oci::kOciManifest}, {"Docker-Content-Digest", claimed.str()}},
        manifest_}});
  EXPECT_EQ(Resolve(Ref()).status().code(), absl::StatusCode::kDataLoss);

  ASSERT_OK_AND_ASSIGN(Resolution resolved_ok, Resolve(Ref()));
  oci::Descriptor wrong{oci::kOciManifest, claimed, static_cast<int64_t>(manifest_.size())};
  auto fetched = resolved_ok.session->FetchManifest(wrong);
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(fetched.status().message(), HasSubstr(absl::StrCat(server_.host(), "/", kRepo)));

  oci::Descriptor wrong_size{oci::kOciManifest, manifest_digest_, 1};
  EXPECT_EQ(resolved_ok.session->FetchManifest(wrong_size).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(HttpRegistryTest, ManifestsAreLimitedTo4MiB) {
  ASSERT_OK_AND_ASSIGN(Resolution resolved, Resolve(Ref()));
  oci::Descriptor huge{oci::kOciManifest, manifest_digest_, kMaxManifestBytes + 1};
  EXPECT_EQ(resolved.session->FetchManifest(huge).status().code(),
            absl::StatusCode::kFailedPrecondition);
  server_.AddManifest(kRepo, "huge", oci::kOciManifest, std::string(kMaxManifestBytes + 1, ' '));
  auto too_big = Resolve(Ref(":huge"));
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(too_big.status().message(), HasSubstr("larger than"));
}

TEST_F(HttpRegistryTest, StreamsBlobsCheckingTheirSize) {
  ASSERT_OK_AND_ASSIGN(Resolution resolved, Resolve(Ref()));
  ASSERT_OK(FetchAndCommit(*resolved.session, BlobDescriptor(layer_)));

  oci::Descriptor smaller = BlobDescriptor(layer_);
  smaller.size -= 1;
  absl::Status too_long = FetchAndCommit(*resolved.session, smaller);
  EXPECT_EQ(too_long.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(too_long.message(), HasSubstr("larger than"));

  oci::Descriptor larger = BlobDescriptor(layer_);
  larger.size += 1;
  absl::Status too_short = FetchAndCommit(*resolved.session, larger);
  EXPECT_EQ(too_short.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(too_short.message(), HasSubstr("ended after"));

  oci::Descriptor missing = BlobDescriptor("not there");
  absl::Status not_found = FetchAndCommit(*resolved.session, missing);
  EXPECT_EQ(not_found.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(not_found.message(), HasSubstr("BLOB_UNKNOWN"));
}

TEST_F(HttpRegistryTest, TruncatedBlobResumesWithRange) {
  ASSERT_OK_AND_ASSIGN(Resolution resolved, Resolve(Ref()));
  server_.TruncateBlob(layer_digest_, 10000, 2);
  ASSERT_OK(FetchAndCommit(*resolved.session, BlobDescriptor(layer_)));
  auto requests = Logged(layer_digest_.str());
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].range, "");
  EXPECT_EQ(requests[1].range, "bytes=10000-");
  EXPECT_EQ(requests[2].range, "bytes=20000-");
}

TEST_F(HttpRegistryTest, TruncatedBlobResumesWhenRangeIsIgnored) {
  ASSERT_OK_AND_ASSIGN(Resolution resolved, Resolve(Ref()));
  server_.IgnoreRange();
  server_.TruncateBlob(layer_digest_, 10000, 1);
  ASSERT_OK(FetchAndCommit(*resolved.session, BlobDescriptor(layer_)));
  EXPECT_EQ(server_.Count(layer_digest_.str()), 2);
}

TEST_F(HttpRegistryTest, BlobTruncatedOnEveryAttemptIsDataLoss) {
  ASSERT_OK_AND_ASSIGN(Resolution resolved, Resolve(Ref()));
  server_.TruncateBlob(layer_digest_, 1000, 100);
  absl::Status status = FetchAndCommit(*resolved.session, BlobDescriptor(layer_));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr(layer_digest_.str()));
  EXPECT_EQ(server_.Count(layer_digest_.str()), options_.max_retries + 1);
}

TEST_F(HttpRegistryTest, MapsHttpErrorsAndRetriesTransientOnes) {
  auto unknown = Resolve(Ref(":nope"));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  for (const std::string& part :
       {Ref(":nope").String(), std::string("not found"), std::string("HTTP 404"),
        std::string("MANIFEST_UNKNOWN: manifest unknown: nope"),
        absl::StrCat(server_.url(), "/v2/", kRepo, "/manifests/nope")}) {
    EXPECT_THAT(unknown.status().message(), HasSubstr(part));
  }

  const std::string rate_limited =
      R"({"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]})";
  server_.InjectReplies("/manifests/",
                        std::vector<Reply>(options_.max_retries + 1,
                                           Reply{429, {{"Retry-After", "1"}}, rate_limited}));
  absl::Time start = absl::Now();
  auto limited = Resolve(Ref());
  EXPECT_EQ(limited.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(limited.status().message(), HasSubstr("TOOMANYREQUESTS: slow down"));
  EXPECT_THAT(limited.status().message(), HasSubstr("Retry-After: 1"));
  // Retry-After is honoured only up to max_retry_delay.
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(server_.Count("/manifests/"), 1 + options_.max_retries + 1);

  server_.InjectReplies("/manifests/", {{503}, {502}, {504}});
  ASSERT_OK(Resolve(Ref()).status());
  EXPECT_EQ(server_.Count("/manifests/"), 2 + options_.max_retries + 4);

  server_.InjectReplies("/manifests/", {{500, {}, "boom"}});
  auto failed = Resolve(Ref());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(failed.status().message(), HasSubstr("HTTP 500 (boom)"));
  EXPECT_EQ(server_.Count("/manifests/"), 2 + options_.max_retries + 5);  // no retry

  server_.InjectReplies("/manifests/", {{403}});
  EXPECT_EQ(Resolve(Ref()).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(HttpRegistryTest, ConnectionFailureIsUnavailableNamingTheUrl) {
  RegistryHosts hosts{{}, {"127.0.0.1:1"}};
  ASSERT_OK_AND_ASSIGN(ImageReference ref, ParseImageReference("127.0.0.1:1/app:v1"));
  auto resolved = HttpRegistry(hosts, options_).Resolve(ref, {});
  EXPECT_EQ(resolved.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(resolved.status().message(), HasSubstr("https://127.0.0.1:1/v2/app/manifests/v1"));
  EXPECT_THAT(resolved.status().message(), HasSubstr("http://127.0.0.1:1/v2/app/manifests/v1"));
}

TEST_F(HttpRegistryTest, BearerTokenFlowWithBasicCredentials) {
  server_.RequireBearer("alice", "s3cret");
  Credentials credentials{"alice", "s3cret"};
  ASSERT_OK_AND_ASSIGN(Resolution resolved, Resolve(Ref(), credentials));
  ASSERT_OK(FetchAndCommit(*resolved.session, BlobDescriptor(layer_)));
  // The token is fetched once and reused for the blob.
  auto tokens = Logged("/token");
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].method, "GET");
  EXPECT_EQ(tokens[0].params.at("service"), "fake-registry");
  EXPECT_EQ(tokens[0].params.at("scope"), absl::StrCat("repository:", kRepo, ":pull"));
  EXPECT_EQ(tokens[0].authorization, "Basic " + absl::Base64Escape("alice:s3cret"));
  EXPECT_EQ(Logged(layer_digest_.str()).at(0).authorization, "Bearer token-0");

  // `auth` is the same credentials, encoded.
  Credentials encoded;
  encoded.auth = absl::Base64Escape("alice:s3cret");
  ASSERT_OK(Resolve(Ref(), encoded).status());
}

TEST_F(HttpRegistryTest, BearerTokenFlowFailures) {
  server_.RequireBearer("alice", "s3cret");
  auto wrong = Resolve(Ref(), Credentials{"alice", "guess"});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(wrong.status().message(), HasSubstr("incorrect username or password"));
  EXPECT_THAT(wrong.status().message(), HasSubstr(server_.url()));
  EXPECT_THAT(wrong.status().message(), Not(HasSubstr("guess")));

  // Anonymous: a token is given, but the registry still refuses.
  auto anonymous = Resolve(Ref());
  EXPECT_EQ(anonymous.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(anonymous.status().message(), HasSubstr("no credentials were given"));

  Credentials garbled;
  garbled.auth = "not base64!";
  auto bad = Resolve(Ref(), garbled);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), Not(HasSubstr("not base64!")));
}

TEST_F(HttpRegistryTest, IdentityTokenUsesTheOAuth2RefreshFlow) {
  server_.RequireBearer("alice", "s3cret", "refresh-me");
  Credentials credentials;
  credentials.identity_token = "refresh-me";
  ASSERT_OK(Resolve(Ref(), credentials).status());
  auto tokens = Logged("/token");
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].method, "POST");
  EXPECT_EQ(tokens[0].params.at("grant_type"), "refresh_token");
  EXPECT_EQ(tokens[0].params.at("refresh_token"), "refresh-me");
  EXPECT_EQ(tokens[0].params.at("client_id"), "converge");
  EXPECT_EQ(tokens[0].params.at("service"), "fake-registry");
  EXPECT_EQ(tokens[0].params.at("scope"), absl::StrCat("repository:", kRepo, ":pull"));

  credentials.identity_token = "stale";
  auto refused = Resolve(Ref(), credentials);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(refused.status().message(), HasSubstr("invalid_grant: bad refresh token"));
  EXPECT_THAT(refused.status().message(), Not(HasSubstr("stale")));
}

TEST_F(HttpRegistryTest, RegistryTokenIsSentDirectly) {
  server_.AcceptRegistryToken("static-token");
  Credentials credentials;
  credentials.registry_token = "static-token";
  ASSERT_OK(Resolve(Ref(), credentials).status());
  EXPECT_EQ(server_.Count("/token"), 0);
  auto manifests = Logged("/manifests/");
  ASSERT_EQ(manifests.size(), 1u);
  EXPECT_EQ(manifests[0].authorization, "Bearer static-token");

  credentials.registry_token = "revoked";
  EXPECT_EQ(Resolve(Ref(), credentials).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(server_.Count("/token"), 0);
}

TEST_F(HttpRegistryTest, BasicAuthentication) {
  server_.RequireBasic("bob", "pw");
  ASSERT_OK_AND_ASSIGN(Resolution resolved, Resolve(Ref(), Credentials{"bob", "pw"}));
  // Basic credentials, once challenged for, go with every later request.
  ASSERT_OK(FetchAndCommit(*resolved.session, BlobDescriptor(layer_)));
  EXPECT_EQ(server_.Count(layer_digest_.str()), 1);

  auto none = Resolve(Ref());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(none.status().message(), HasSubstr("no credentials were given"));
  EXPECT_EQ(Resolve(Ref(), Credentials{"bob", "wrong"}).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(HttpRegistryTest, FollowsBlobRedirectsWithoutLeakingAuthorization) {
  server_.RequireBearer("alice", "s3cret");
  ASSERT_OK_AND_ASSIGN(Resolution resolved, Resolve(Ref(), Credentials{"alice", "s3cret"}));

  // Same host: curl may keep the header; the storage path serves the blob.
  server_.RedirectBlobs(server_.url());
  ASSERT_OK(FetchAndCommit(*resolved.session, BlobDescriptor(layer_)));
  EXPECT_EQ(server_.Count("/storage/" + layer_digest_.hex()), 1);

  // Another host name for the same server: the registry's token stays behind.
  server_.RedirectBlobs(absl::StrCat("http://localhost:", server_.host().substr(10)));
  ASSERT_OK(FetchAndCommit(*resolved.session, BlobDescriptor(layer_)));
  auto storage = Logged("/storage/");
  ASSERT_EQ(storage.size(), 2u);
  EXPECT_EQ(storage[1].authorization, "");
}

TEST_F(HttpRegistryTest, MirrorFirstThenFallback) {
  FakeRegistryServer mirror;
  RegistryHosts hosts = Hosts();
  hosts.mirrors[server_.host()] = mirror.url();
  HttpRegistry registry(hosts, options_);
  const Credentials credentials{"alice", "s3cret"};

  // The mirror lacks the image: the origin serves it.
  ASSERT_OK_AND_ASSIGN(Resolution from_origin, registry.Resolve(Ref(), credentials));
  EXPECT_EQ(from_origin.session->endpoint(), server_.url());
  EXPECT_EQ(mirror.Count("/manifests/v1"), 1);

  // The mirror has it: the origin is not asked.
  mirror.AddManifest(kRepo, "v1", oci::kOciManifest, manifest_);
  mirror.AddBlob(kRepo, layer_);
  const int origin_requests = server_.requests().size();
  ASSERT_OK_AND_ASSIGN(Resolution from_mirror, registry.Resolve(Ref(), credentials));
  EXPECT_EQ(from_mirror.session->endpoint(), mirror.url());
  ASSERT_OK(FetchAndCommit(*from_mirror.session, BlobDescriptor(layer_)));
  EXPECT_EQ(static_cast<int>(server_.requests().size()), origin_requests);

  // Credentials for the origin are not offered to the mirror.
  mirror.RequireBasic("alice", "s3cret");
  ASSERT_OK_AND_ASSIGN(Resolution past_mirror, registry.Resolve(Ref(), credentials));
  EXPECT_EQ(past_mirror.session->endpoint(), server_.url());
  for (const auto& logged : mirror.requests()) EXPECT_EQ(logged.authorization, "");
}

TEST_F(HttpRegistryTest, AllEndpointsFailingListsEachError) {
  FakeRegistryServer mirror;
  mirror.InjectReplies("/manifests/", {{503}, {503}, {503}, {503}});
  RegistryHosts hosts = Hosts();
  hosts.mirrors[server_.host()] = mirror.url();
  auto resolved = HttpRegistry(hosts, options_).Resolve(Ref(":nope"), {});
  // The origin's answer decides the code.
  EXPECT_EQ(resolved.status().code(), absl::StatusCode::kNotFound);
  for (const std::string& part :
       {mirror.url() + "/v2/", std::string("HTTP 503"), "https://" + server_.host(),
        server_.url() + "/v2/", std::string("HTTP 404")}) {
    EXPECT_THAT(resolved.status().message(), HasSubstr(part));
  }
}

TEST_F(HttpRegistryTest, CancellationStopsWithoutFallback) {
  std::atomic<bool> cancelled{false};
  options_.cancelled = [&] { return cancelled.load(); };
  options_.initial_backoff = absl::Seconds(10);
  options_.max_retry_delay = absl::Seconds(10);
  server_.InjectReplies("/manifests/", {{503}});
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(200));
    cancelled = true;
  });
  absl::Time start = absl::Now();
  auto resolved = Resolve(Ref());
  canceller.join();
  EXPECT_EQ(resolved.status().code(), absl::StatusCode::kCancelled);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(server_.Count("/manifests/"), 1);
}

TEST_F(HttpRegistryTest, ConcurrentSessions) {
  server_.RequireBearer("alice", "s3cret");
  HttpRegistry registry(Hosts(), options_);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto resolved = registry.Resolve(Ref(), Credentials{"alice", "s3cret"});
      if (resolved.ok() && resolved->top.digest == manifest_digest_) ++ok;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 4);
}

}  // namespace
}  // namespace converge::registry
