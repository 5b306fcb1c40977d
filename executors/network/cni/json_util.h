// Exception-free wrappers around nlohmann/json for the CNI package: parsing
// and dumping are the only nlohmann calls that throw on bad input, so every
// parse and dump in this package goes through here.
//
//   CONVERGE_ASSIGN_OR_RETURN(Json doc, ParseJson(text, "CNI result"));
//   std::string text = DumpJson(doc);
#ifndef CONVERGE_EXECUTORS_NETWORK_CNI_JSON_UTIL_H_
#define CONVERGE_EXECUTORS_NETWORK_CNI_JSON_UTIL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace converge {

// Keys keep the order they were written in, so configs and results round-trip
// as the administrator and the plugins wrote them.
using Json = nlohmann::ordered_json;

// INVALID_ARGUMENT "<what>: invalid JSON: <parser message>" on bad input.
absl::StatusOr<Json> ParseJson(absl::string_view text, absl::string_view what);

// Compact form; invalid UTF-8 in strings is replaced, never thrown.
std::string DumpJson(const Json& value);

// The string value of `object[key]`, or "" when absent or not a string.
std::string StringField(const Json& object, const char* key);

}  // namespace converge

#endif  // CONVERGE_EXECUTORS_NETWORK_CNI_JSON_UTIL_H_
