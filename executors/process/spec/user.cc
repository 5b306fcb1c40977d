#include "executors/process/spec/user.h"

#include <algorithm>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace converge::process {
namespace {

constexpr uint32_t kMaxId = 4294967294u;
constexpr char kSecurityContext[] = "linux.security_context.";
constexpr char kImageUser[] = "image config User";

struct PasswdEntry {
  std::string name;
  uint32_t uid;
  uint32_t gid;
  std::string home;
};

struct GroupEntry {
  std::string name;
  uint32_t gid;
  std::vector<std::string> members;
};

// Decimal digits only, as a file id must be; no sign, no spaces.
std::optional<uint32_t> ParseFileId(absl::string_view text) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value > kMaxId) return std::nullopt;
  return static_cast<uint32_t>(value);
}

// The fields of each line that is neither blank nor a comment.
std::vector<std::vector<absl::string_view>> Records(absl::string_view text) {
  std::vector<std::vector<absl::string_view>> records;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    records.push_back(absl::StrSplit(line, ':'));
  }
  return records;
}

// name:password:uid:gid:gecos:home:shell
std::vector<PasswdEntry> ParsePasswd(absl::string_view text) {
  std::vector<PasswdEntry> entries;
  for (const auto& fields : Records(text)) {
    if (fields.size() < 7 || fields[0].empty()) continue;
    std::optional<uint32_t> uid = ParseFileId(fields[2]);
    std::optional<uint32_t> gid = ParseFileId(fields[3]);
    if (!uid || !gid) continue;
    entries.push_back({std::string(fields[0]), *uid, *gid, std::string(fields[5])});
  }
  return entries;
}

// name:password:gid:member,member
std::vector<GroupEntry> ParseGroup(absl::string_view text) {
  std::vector<GroupEntry> entries;
  for (const auto& fields : Records(text)) {
    if (fields.size() < 4 || fields[0].empty()) continue;
    std::optional<uint32_t> gid = ParseFileId(fields[2]);
    if (!gid) continue;
    entries.push_back(
        {std::string(fields[0]), *gid, absl::StrSplit(fields[3], ',', absl::SkipEmpty())});
  }
  return entries;
}

const PasswdEntry* UserByName(const std::vector<PasswdEntry>& users, absl::string_view name) {
  for (const PasswdEntry& u : users) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

const PasswdEntry* UserById(const std::vector<PasswdEntry>& users, uint32_t uid) {
  for (const PasswdEntry& u : users) {
    if (u.uid == uid) return &u;
  }
  return nullptr;
}

// One side of a user string: an id, or a name to look up ("" when absent).
struct IdOrName {
  std::optional<uint32_t> id;
  std::string name;
};

absl::Status OutOfRange(absl::string_view field, absl::string_view value) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": id ", value, " is out of range 0..", kMaxId));
}

// Like containerd's strconv.Atoi test: anything shaped like a signed decimal is
// an id (and must be in range); anything else is a name.
absl::StatusOr<IdOrName> ParseIdOrName(absl::string_view text, absl::string_view field) {
  absl::string_view digits = text;
  bool negative = false;
  if (!digits.empty() && (digits.front() == '+' || digits.front() == '-')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    return IdOrName{std::nullopt, std::string(text)};
  }
  digits.remove_prefix(std::min(digits.find_first_not_of('0'), digits.size() - 1));
  std::optional<uint32_t> id = ParseFileId(digits);
  if (!id || (negative && *id != 0)) return OutOfRange(field, text);
  return IdOrName{id, ""};
}

absl::StatusOr<uint32_t> CriId(int64_t value, absl::string_view name) {
  if (value < 0 || value > kMaxId) {
    return OutOfRange(absl::StrCat(kSecurityContext, name), absl::StrCat(value));
  }
  return static_cast<uint32_t>(value);
}

// The user string containerd would build: which user and (maybe) which group.
struct UserSpec {
  IdOrName user;
  std::optional<IdOrName> group;
  std::string field;  // to name in errors
};

absl::StatusOr<UserSpec> SelectUser(const runtime::v1::LinuxContainerSecurityContext& security,
                                    const std::string& image_user) {
  UserSpec spec;
  const bool cri_user = !security.run_as_username().empty() || security.has_run_as_user();
  if (security.has_run_as_group() && !cri_user) {
    return absl::InvalidArgumentError(absl::StrCat(
        kSecurityContext, "run_as_group is set without run_as_user or run_as_username"));
  }
  if (!cri_user) {
    spec.field = kImageUser;
    if (image_user.empty()) {
      // containerd then sets no user: the default spec's 0:0, passwd unread.
      spec.user.id = 0;
      spec.group = IdOrName{0, ""};
      return spec;
    }
    std::vector<absl::string_view> parts = absl::StrSplit(image_user, ':');
    if (parts.size() > 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(kImageUser, " \"", image_user, "\" is not user[:group]"));
    }
    const std::string field = absl::StrCat(kImageUser, " \"", image_user, "\"");
    CONVERGE_ASSIGN_OR_RETURN(spec.user, ParseIdOrName(parts[0], field));
    if (parts.size() == 2) {
      CONVERGE_ASSIGN_OR_RETURN(spec.group, ParseIdOrName(parts[1], field));
    }
    return spec;
  }
  if (!security.run_as_username().empty()) {
    spec.field = absl::StrCat(kSecurityContext, "run_as_username");
    // containerd would split a ':' here into a group; a name never has one.
    if (security.run_as_username().find(':') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(spec.field, " \"", security.run_as_username(), "\" contains ':'"));
    }
    CONVERGE_ASSIGN_OR_RETURN(spec.user, ParseIdOrName(security.run_as_username(), spec.field));
  } else {
    spec.field = absl::StrCat(kSecurityContext, "run_as_user");
    CONVERGE_ASSIGN_OR_RETURN(spec.user.id, CriId(security.run_as_user().value(), "run_as_user"));
  }
  if (security.has_run_as_group()) {
    spec.group.emplace();
    CONVERGE_ASSIGN_OR_RETURN(spec.group->id,
                              CriId(security.run_as_group().value(), "run_as_group"));
  }
  return spec;
}

}  // namespace

absl::StatusOr<ProcessUser> ResolveUser(const runtime::v1::LinuxContainerSecurityContext& security,
                                        const std::string& image_user, absl::string_view passwd,
                                        absl::string_view group) {
  const runtime::v1::SupplementalGroupsPolicy policy = security.supplemental_groups_policy();
  if (policy != runtime::v1::Merge && policy != runtime::v1::Strict) {
    return absl::InvalidArgumentError(absl::StrCat(kSecurityContext, "supplemental_groups_policy ",
                                                   static_cast<int>(policy), " is unknown"));
  }
  ProcessUser out;
  for (int64_t gid : security.supplemental_groups()) {
    CONVERGE_ASSIGN_OR_RETURN(uint32_t id, CriId(gid, "supplemental_groups"));
    out.additional_gids.push_back(id);
  }
  CONVERGE_ASSIGN_OR_RETURN(UserSpec spec, SelectUser(security, image_user));
  const std::vector<PasswdEntry> users = ParsePasswd(passwd);
  const std::vector<GroupEntry> groups = ParseGroup(group);

  const PasswdEntry* named = nullptr;
  if (!spec.user.id && !spec.user.name.empty()) {
    named = UserByName(users, spec.user.name);
    if (named == nullptr) {
      return absl::NotFoundError(
          absl::StrCat(spec.field, ": user \"", spec.user.name, "\" not found in /etc/passwd"));
    }
  }
  // An empty user part (":group") means uid 0, as in containerd.
  out.uid = spec.user.id ? *spec.user.id : named ? named->uid : 0;

  if (!spec.group) {
    const PasswdEntry* entry = named ? named : UserById(users, out.uid);
    out.gid = entry ? entry->gid : 0;
  } else if (spec.group->id) {
    out.gid = *spec.group->id;
  } else if (!spec.group->name.empty()) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const GroupEntry& g) { return g.name == spec.group->name; });
    if (it == groups.end()) {
      // Only an image User names a group; CRI has just run_as_group's id.
      return absl::NotFoundError(
          absl::StrCat(spec.field, ": group \"", spec.group->name, "\" not found in /etc/group"));
    }
    out.gid = it->gid;
  }  // else "user:" with an empty group part: gid 0, as in containerd.
  out.additional_gids.push_back(out.gid);

  if (policy == runtime::v1::Merge) {
    std::string member = spec.user.name;
    if (spec.user.id) {
      const PasswdEntry* entry = UserById(users, *spec.user.id);
      member = entry ? entry->name : "";
    }
    for (const GroupEntry& g : groups) {
      if (member.empty() || g.name == member) continue;
      if (std::find(g.members.begin(), g.members.end(), member) != g.members.end()) {
        out.additional_gids.push_back(g.gid);
      }
    }
  }
  std::sort(out.additional_gids.begin(), out.additional_gids.end());
  out.additional_gids.erase(std::unique(out.additional_gids.begin(), out.additional_gids.end()),
                            out.additional_gids.end());

  const PasswdEntry* home = UserById(users, out.uid);
  out.home = home && !home->home.empty() ? home->home : "/";
  return out;
}

}  // namespace converge::process
