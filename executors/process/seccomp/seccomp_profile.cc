#include "executors/process/seccomp/seccomp_profile.h"

#include <errno.h>
#include <seccomp.h>
#include <string.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "executors/process/seccomp/seccomp_rules.h"
#include "nlohmann/json.hpp"

namespace converge::process {
namespace {

using nlohmann::json;

// Indexed by capability number (linux/capability.h).
const char* const kCapabilityNames[] = {
    "CAP_CHOWN",           "CAP_DAC_OVERRIDE",   "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID",          "CAP_KILL",           "CAP_SETGID",          "CAP_SETUID",
    "CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",       "CAP_NET_RAW",        "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",      "CAP_SYS_RAWIO",      "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",      "CAP_SYS_BOOT",        "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",    "CAP_SYS_TIME",       "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
    "CAP_LEASE",           "CAP_AUDIT_WRITE",    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",      "CAP_SYSLOG",          "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",     "CAP_PERFMON",         "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

absl::Status FieldError(const std::string& field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("seccomp profile: ", field, ": ", problem));
}

// Reads an optional array of strings.
absl::Status StringList(const json& object, const char* key, const std::string& path,
                        std::vector<std::string>* out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return FieldError(path + key, "expected an array of strings");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    if (!item.is_string()) {
      return FieldError(absl::StrCat(path, key, "[", i, "]"), "expected a string");
    }
    out->push_back(item.get<std::string>());
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> ArchFromName(const std::string& field, const std::string& name) {
  // "SCMP_ARCH_X86_64" -> libseccomp's "x86_64".
  if (!absl::StartsWith(name, "SCMP_ARCH_")) {
    return FieldError(field, absl::StrCat("unknown architecture `", name, "`"));
  }
  std::string short_name = absl::AsciiStrToLower(name.substr(strlen("SCMP_ARCH_")));
  uint32_t arch = seccomp_arch_resolve_name(short_name.c_str());
  if (arch == 0) return FieldError(field, absl::StrCat("unknown architecture `", name, "`"));
  return arch;
}

absl::Status ArchList(const json& object, const char* key, const std::string& path,
                      std::vector<uint32_t>* out) {
  std::vector<std::string> names;
  CONVERGE_RETURN_IF_ERROR(StringList(object, key, path, &names));
  for (size_t i = 0; i < names.size(); ++i) {
    CONVERGE_ASSIGN_OR_RETURN(uint32_t arch,
                              ArchFromName(absl::StrCat(path, key, "[", i, "]"), names[i]));
    out->push_back(arch);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> ParseErrno(const json& object, const char* key, const std::string& path,
                                    uint32_t fallback) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_number_unsigned() || it->get<uint64_t>() > 0xffff) {
    return FieldError(path + key, "expected an integer in [0, 65535]");
  }
  return it->get<uint32_t>();
}

// An action name with its errno (ERRNO) or message (TRACE).
absl::StatusOr<uint32_t> ParseAction(const json& value, const std::string& field,
                                     uint32_t errno_ret) {
  if (!value.is_string()) return FieldError(field, "expected an action name");
  const std::string name = value.get<std::string>();
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(errno_ret);
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(errno_ret);
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  return FieldError(field, absl::StrCat("unknown action `", name, "`"));
}

absl::StatusOr<scmp_compare> ParseOp(const json& value, const std::string& field) {
  static const struct {
    const char* name;
    scmp_compare op;
  } kOps[] = {{"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT},
              {"SCMP_CMP_LE", SCMP_CMP_LE}, {"SCMP_CMP_EQ", SCMP_CMP_EQ},
              {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
              {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
  if (!value.is_string()) return FieldError(field, "expected an operator name");
  const std::string name = value.get<std::string>();
  for (const auto& entry : kOps) {
    if (name == entry.name) return entry.op;
  }
  return FieldError(field, absl::StrCat("unknown operator `", name, "`"));
}

absl::StatusOr<uint64_t> ParseU64(const json& object, const char* key, const std::string& path,
                                  bool required) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    if (required) return FieldError(path + key, "missing");
    return 0;
  }
  if (!it->is_number_unsigned()) return FieldError(path + key, "expected an unsigned integer");
  return it->get<uint64_t>();
}

absl::Status ParseCaps(const json& object, const std::string& path, uint64_t* caps) {
  std::vector<std::string> names;
  CONVERGE_RETURN_IF_ERROR(StringList(object, "caps", path, &names));
  for (size_t i = 0; i < names.size(); ++i) {
    int cap = CapabilityFromName(names[i]);
    if (cap < 0) {
      return FieldError(absl::StrCat(path, "caps[", i, "]"),
                        absl::StrCat("unknown capability `", names[i], "`"));
    }
    *caps |= uint64_t{1} << cap;
  }
  return absl::OkStatus();
}

absl::Status ParseFilter(const json& object, const std::string& path, uint64_t* caps,
                         std::vector<uint32_t>* arches) {
  if (!object.is_object()) return FieldError(path, "expected an object");
  const std::string prefix = path + ".";
  CONVERGE_RETURN_IF_ERROR(ParseCaps(object, prefix, caps));
  return ArchList(object, "arches", prefix, arches);
}

absl::StatusOr<SeccompRule> ParseRule(const json& entry, const std::string& path,
                                      uint32_t default_errno) {
  if (!entry.is_object()) return FieldError(path, "expected an object");
  const std::string prefix = path + ".";
  SeccompRule rule;
  CONVERGE_RETURN_IF_ERROR(StringList(entry, "names", prefix, &rule.names));
  auto name = entry.find("name");  // the older single-name form
  if (name != entry.end() && !name->is_null()) {
    if (!name->is_string()) return FieldError(prefix + "name", "expected a string");
    rule.names.push_back(name->get<std::string>());
  }
  CONVERGE_ASSIGN_OR_RETURN(uint32_t errno_ret, ParseErrno(entry, "errnoRet", prefix,
                                                           default_errno));
  auto action = entry.find("action");
  if (action == entry.end()) return FieldError(prefix + "action", "missing");
  CONVERGE_ASSIGN_OR_RETURN(rule.action, ParseAction(*action, prefix + "action", errno_ret));

  auto args = entry.find("args");
  if (args != entry.end() && !args->is_null()) {
    if (!args->is_array()) return FieldError(prefix + "args", "expected an array");
    for (size_t i = 0; i < args->size(); ++i) {
      const json& arg = (*args)[i];
      const std::string arg_path = absl::StrCat(prefix, "args[", i, "]");
      if (!arg.is_object()) return FieldError(arg_path, "expected an object");
      SeccompArg parsed;
      CONVERGE_ASSIGN_OR_RETURN(uint64_t index, ParseU64(arg, "index", arg_path + ".", true));
      if (index > 5) return FieldError(arg_path + ".index", "must be in [0, 5]");
      parsed.index = static_cast<unsigned>(index);
      CONVERGE_ASSIGN_OR_RETURN(parsed.value, ParseU64(arg, "value", arg_path + ".", false));
      CONVERGE_ASSIGN_OR_RETURN(parsed.value_two,
                                ParseU64(arg, "valueTwo", arg_path + ".", false));
      auto op = arg.find("op");
      if (op == arg.end()) return FieldError(arg_path + ".op", "missing");
      CONVERGE_ASSIGN_OR_RETURN(parsed.op, ParseOp(*op, arg_path + ".op"));
      rule.args.push_back(parsed);
    }
  }
  auto includes = entry.find("includes");
  if (includes != entry.end() && !includes->is_null()) {
    CONVERGE_RETURN_IF_ERROR(
        ParseFilter(*includes, prefix + "includes", &rule.includes_caps, &rule.includes_arches));
  }
  auto excludes = entry.find("excludes");
  if (excludes != entry.end() && !excludes->is_null()) {
    CONVERGE_RETURN_IF_ERROR(
        ParseFilter(*excludes, prefix + "excludes", &rule.excludes_caps, &rule.excludes_arches));
  }
  return rule;
}

absl::StatusOr<SeccompProfile> ParseProfile(const json& root) {
  if (!root.is_object()) return FieldError("(root)", "expected an object");
  SeccompProfile profile;
  CONVERGE_ASSIGN_OR_RETURN(uint32_t default_errno,
                            ParseErrno(root, "defaultErrnoRet", "", EPERM));
  auto default_action = root.find("defaultAction");
  if (default_action == root.end()) return FieldError("defaultAction", "missing");
  CONVERGE_ASSIGN_OR_RETURN(profile.default_action,
                            ParseAction(*default_action, "defaultAction", default_errno));

  CONVERGE_RETURN_IF_ERROR(ArchList(root, "architectures", "", &profile.arches));
  // Docker's archMap: the native architecture's entry lists its
  // sub-architectures (x86 and x32 for x86_64).
  auto arch_map = root.find("archMap");
  if (arch_map != root.end() && !arch_map->is_null()) {
    if (!arch_map->is_array()) return FieldError("archMap", "expected an array");
    for (size_t i = 0; i < arch_map->size(); ++i) {
      const json& entry = (*arch_map)[i];
      const std::string path = absl::StrCat("archMap[", i, "]");
      if (!entry.is_object()) return FieldError(path, "expected an object");
      auto arch = entry.find("architecture");
      if (arch == entry.end() || !arch->is_string()) {
        return FieldError(path + ".architecture", "expected a string");
      }
      CONVERGE_ASSIGN_OR_RETURN(uint32_t main_arch,
                                ArchFromName(path + ".architecture", arch->get<std::string>()));
      std::vector<uint32_t> subs;
      CONVERGE_RETURN_IF_ERROR(ArchList(entry, "subArchitectures", path + ".", &subs));
      if (main_arch != seccomp_arch_native()) continue;
      profile.arches.insert(profile.arches.end(), subs.begin(), subs.end());
    }
  }

  auto syscalls = root.find("syscalls");
  if (syscalls != root.end() && !syscalls->is_null()) {
    if (!syscalls->is_array()) return FieldError("syscalls", "expected an array");
    for (size_t i = 0; i < syscalls->size(); ++i) {
      CONVERGE_ASSIGN_OR_RETURN(
          SeccompRule rule,
          ParseRule((*syscalls)[i], absl::StrCat("syscalls[", i, "]"), default_errno));
      profile.rules.push_back(std::move(rule));
    }
  }
  return profile;
}

bool Contains(const std::vector<uint32_t>& arches, uint32_t arch) {
  return std::find(arches.begin(), arches.end(), arch) != arches.end();
}

bool RuleApplies(const SeccompRule& rule, const SeccompLoadOptions& options) {
  if ((rule.includes_caps & options.capabilities) != rule.includes_caps) return false;
  if ((rule.excludes_caps & options.capabilities) != 0) return false;
  const uint32_t native = seccomp_arch_native();
  if (!rule.includes_arches.empty() && !Contains(rule.includes_arches, native)) return false;
  if (Contains(rule.excludes_arches, native)) return false;
  return true;
}

absl::Status AddRule(scmp_filter_ctx ctx, const SeccompRule& rule, const std::string& name) {
  int nr = seccomp_syscall_resolve_name(name.c_str());
  if (nr == __NR_SCMP_ERROR) return absl::OkStatus();  // unknown here: skipped, as runc does
  std::vector<scmp_arg_cmp> cmps;
  bool repeated_index = false;
  for (const SeccompArg& arg : rule.args) {
    for (const scmp_arg_cmp& seen : cmps) repeated_index |= seen.arg == arg.index;
    cmps.push_back(scmp_arg_cmp{arg.index, arg.op, arg.value, arg.value_two});
  }
  int rc = 0;
  if (!repeated_index) {
    rc = seccomp_rule_add_array(ctx, rule.action, nr, cmps.size(), cmps.data());
  } else {
    // libseccomp cannot AND two comparisons of one argument: as runc does,
    // each comparison becomes a rule of its own (so they are ORed).
    for (const scmp_arg_cmp& cmp : cmps) {
      rc = seccomp_rule_add_array(ctx, rule.action, nr, 1, &cmp);
      if (rc < 0) break;
    }
  }
  if (rc < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("seccomp: add rule for `", name, "`: ", strerror(-rc)));
  }
  return absl::OkStatus();
}

}  // namespace

int CapabilityFromName(absl::string_view name) {
  for (int cap = 0; cap < static_cast<int>(sizeof(kCapabilityNames) / sizeof(*kCapabilityNames));
       ++cap) {
    if (name == kCapabilityNames[cap]) return cap;
  }
  return -1;
}

absl::StatusOr<SeccompProfile> ParseSeccompProfileJson(absl::string_view text) {
  try {
    json root = json::parse(text.begin(), text.end());
    return ParseProfile(root);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("seccomp profile: not JSON: ", e.what()));
  }
}

absl::StatusOr<ScmpFilter> CompileSeccompProfile(const SeccompProfile& profile,
                                                 const SeccompLoadOptions& options) {
  ScmpFilter filter(seccomp_init(profile.default_action));
  if (filter == nullptr) return absl::InvalidArgumentError("seccomp: seccomp_init failed");
  int rc = seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_NNP, options.set_no_new_privs ? 1 : 0);
  if (rc < 0) {
    return absl::InternalError(absl::StrCat("seccomp: set no_new_privs attribute: ", strerror(-rc)));
  }
  // Report the kernel's errno from seccomp_load rather than ECANCELED.
  seccomp_attr_set(filter.get(), SCMP_FLTATR_API_SYSRAWRC, 1);
  for (uint32_t arch : profile.arches) {
    rc = seccomp_arch_add(filter.get(), arch);
    if (rc < 0 && rc != -EEXIST) {
      return absl::InvalidArgumentError(
          absl::StrCat("seccomp: add architecture ", arch, ": ", strerror(-rc)));
    }
  }
  for (const SeccompRule& rule : profile.rules) {
    if (rule.action == profile.default_action || !RuleApplies(rule, options)) continue;
    for (const std::string& name : rule.names) {
      CONVERGE_RETURN_IF_ERROR(AddRule(filter.get(), rule, name));
    }
  }
  return filter;
}

absl::Status ValidateSeccompProfile(absl::string_view profile_json) {
  CONVERGE_ASSIGN_OR_RETURN(SeccompProfile profile, ParseSeccompProfileJson(profile_json));
  // Compiling catches what parsing cannot (e.g. conflicting rules); with all
  // capabilities so that every conditional rule is tried.
  SeccompLoadOptions all;
  all.capabilities = ~uint64_t{0};
  CONVERGE_ASSIGN_OR_RETURN(ScmpFilter filter, CompileSeccompProfile(profile, all));
  return absl::OkStatus();
}

absl::Status LoadSeccompFilter(const SeccompSpec& spec, const SeccompLoadOptions& options) {
  const SeccompProfile* profile = nullptr;
  SeccompProfile parsed;
  switch (spec.mode) {
    case SeccompSpec::Mode::kUnconfined:
      return absl::OkStatus();
    case SeccompSpec::Mode::kRuntimeDefault:
      profile = &RuntimeDefaultSeccompProfile();
      break;
    case SeccompSpec::Mode::kProfile: {
      CONVERGE_ASSIGN_OR_RETURN(parsed, ParseSeccompProfileJson(spec.profile_json));
      profile = &parsed;
      break;
    }
  }
  CONVERGE_ASSIGN_OR_RETURN(ScmpFilter filter, CompileSeccompProfile(*profile, options));
  int rc = seccomp_load(filter.get());
  if (rc < 0) {
    return absl::Status(-rc == EACCES || -rc == EPERM ? absl::StatusCode::kPermissionDenied
                                                      : absl::StatusCode::kInternal,
                        absl::StrCat("seccomp: load filter: ", strerror(-rc)));
  }
  return absl::OkStatus();
}

absl::Status LoadSeccompFilter(const SeccompSpec& spec) {
  return LoadSeccompFilter(spec, SeccompLoadOptions{});
}

}  // namespace converge::process
