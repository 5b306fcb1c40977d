#include <iostream>
#include <string>
#include "tests/registry/local_registry.h"
#include "tests/registry/registry_front.h"
using namespace converge::testing;
int main() {
  auto registry = LocalRegistry::Start();
  if (!registry.ok()) { std::cerr << registry.status() << "\n"; return 1; }
  auto front = RegistryFront::Start(**registry);
  if (!front.ok()) { std::cerr << front.status() << "\n"; return 1; }
  std::cout << (*registry)->host_port() << " " << (*front)->host_port() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "counts") for (auto& r : (*front)->requests()) std::cout << r.method << " " << r.path << " " << r.status << "\n";
    if (line == "corrupt") (*front)->CorruptNext("/blobs/", 1);
    std::cout << "ok" << std::endl;
  }
}
