//! SNMP through the gateway with real UDP datagrams (cli → srv:161, namespaces prefixed
//! `hsnmp`), `verdict run` on gw with the default port steering: a drop rule on
//! `snmp.community` stops a `public` GetRequest before the agent reads it, while a
//! GetRequest with another community, and a Kerberos AS-REQ to port 88 that a
//! `krb5_msg_type` rule only alerts on, pass. Root only; every wait is bounded.

mod common;
#[path = "common/der.rs"]
mod der;
mod live;

use common::netns::Topology;
use der::*;
use live::*;
use std::time::Duration;

const RULES: &str = "drop snmp any any -> any any (msg:\"SNMP public community\"; \
     snmp.community; content:\"public\"; bsize:6; sid:1020301; rev:1;)\n\
     alert krb5 any any -> any any (msg:\"Kerberos AS-REQ\"; krb5_msg_type:10; \
     krb5.cname; content:\"alice\"; sid:1020302; rev:1;)\n";

#[test]
fn a_public_snmp_get_is_dropped_and_another_community_passes() {
    require_netns!();
    let t = Topology::with_prefix("hsnmp");
    let e = Engine::start(&t, "snmp", RULES, &[]);
    let public = snmp_v12(1, b"public", 0);
    let other = snmp_v12(1, b"m0nitor", 0);
    let got = udp_exchange(
        &t,
        161,
        vec![other.clone(), public.clone(), snmp_v12(0, b"m0nitor", 0)],
        Duration::from_millis(100),
    );
    assert_eq!(got.len(), 2, "the agent got {} datagrams", got.len());
    assert!(got.contains(&other), "the other community was dropped");
    assert!(
        !got.contains(&public),
        "the public GetRequest reached the agent"
    );
    let alerts = e.alerts(1020301, 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["alert"]["action"], "blocked");
    assert_eq!(alerts[0]["app_proto"], "snmp");
    assert_eq!(alerts[0]["snmp"]["community"], "public");
    assert_eq!(alerts[0]["snmp"]["pdu_type"], "get_request");
    // Kerberos on 88 is parsed too: the alert rule fires and the request passes.
    let req = krb_kdc_req(10, &["alice"], "EXAMPLE.ORG", &["krbtgt", "EXAMPLE.ORG"]);
    let got = udp_exchange(&t, 88, vec![req.clone()], Duration::from_millis(100));
    assert_eq!(got, vec![req]);
    let alerts = e.alerts(1020302, 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["krb5"]["msg_type"], "KRB_AS_REQ");
    assert_eq!(alerts[0]["krb5"]["cname"], "alice");
}
