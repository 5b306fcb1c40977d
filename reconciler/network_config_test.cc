#include "reconciler/network_config.h"

#include "gtest/gtest.h"

namespace converge {
namespace {

TEST(CniRuntimeConfig, PortsDnsAndBandwidth) {
  runtime::v1::PodSandboxConfig config;
  auto* web = config.add_port_mappings();
  web->set_container_port(80);
  web->set_host_port(8080);
  auto* dns_port = config.add_port_mappings();
  dns_port->set_protocol(runtime::v1::UDP);
  dns_port->set_container_port(53);
  dns_port->set_host_port(5353);
  dns_port->set_host_ip("127.0.0.1");
  config.add_port_mappings()->set_container_port(9090);  // no host port: skipped
  config.mutable_dns_config()->add_servers("10.96.0.10");
  (*config.mutable_annotations())[kIngressBandwidthAnnotation] = "10M";

  auto got = CniRuntimeConfig(config);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->port_mappings.size(), 2u);
  EXPECT_EQ(got->port_mappings[0].host_port, 8080);
  EXPECT_EQ(got->port_mappings[0].container_port, 80);
  EXPECT_EQ(got->port_mappings[0].protocol, "TCP");
  EXPECT_EQ(got->port_mappings[1].protocol, "UDP");
  EXPECT_EQ(got->port_mappings[1].host_ip, "127.0.0.1");
  ASSERT_TRUE(got->dns.has_value());
  EXPECT_EQ(got->dns->servers, std::vector<std::string>{"10.96.0.10"});
  ASSERT_TRUE(got->bandwidth.has_value());
  EXPECT_EQ(got->bandwidth->ingress_rate, 10000000u);
  EXPECT_EQ(got->bandwidth->egress_rate, 0u);

  (*config.mutable_annotations())[kEgressBandwidthAnnotation] = "lots";
  EXPECT_EQ(CniRuntimeConfig(config).status().message(),
            "annotation kubernetes.io/egress-bandwidth: \"lots\" is not a quantity like 10M or 1Gi");
}

TEST(CniRuntimeConfig, EmptyConfigAsksNothing) {
  auto got = CniRuntimeConfig(runtime::v1::PodSandboxConfig());
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->port_mappings.empty());
  EXPECT_FALSE(got->dns.has_value());
  EXPECT_FALSE(got->bandwidth.has_value());
}

}  // namespace
}  // namespace converge
