//! Property tests for bypass matching.

use std::net::{Ipv4Addr, Ipv6Addr};

use interpose_route::Bypass;
use proptest::prelude::*;

/// One DNS label.
fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
}

/// One to four labels joined with dots.
fn labels() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..4).prop_map(|l| l.join("."))
}

/// The entry of `list` that `host:port` matches, owned.
fn hit(list: &str, host: &str, port: u16) -> Option<String> {
    Bypass::parse(list).matches(host, port).map(str::to_owned)
}

/// `text` with the case of each letter chosen by `flips`.
fn recase(text: &str, flips: &[bool]) -> String {
    text.chars()
        .zip(flips.iter().cycle())
        .map(|(c, upper)| {
            if *upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn any_subdomain_of_example_com_matches_both_domain_forms_and_the_wildcard(
        sub in labels(),
    ) {
        let host = format!("{sub}.example.com");
        prop_assert_eq!(hit(".example.com", &host, 443), Some(String::from(".example.com")));
        prop_assert_eq!(hit("example.com", &host, 443), Some(String::from("example.com")));
        prop_assert_eq!(hit("*.example.com", &host, 443), Some(String::from("*.example.com")));
    }

    #[test]
    fn the_apex_matches_both_domain_forms_but_never_the_wildcard(port in 1u16..) {
        prop_assert!(Bypass::parse(".example.com").matches("example.com", port).is_some());
        prop_assert!(Bypass::parse("example.com").matches("example.com", port).is_some());
        prop_assert_eq!(hit("*.example.com", "example.com", port), None);
    }

    #[test]
    fn a_name_that_merely_ends_with_the_domain_text_never_matches(prefix in label()) {
        // `fooexample.com`: same tail, no label boundary.
        let host = format!("{prefix}example.com");
        let list = "example.com, .example.com, *.example.com";
        prop_assert_eq!(hit(list, &host, 80), None);
    }

    #[test]
    fn random_case_changes_do_not_change_the_result(
        entry in labels(),
        host in labels(),
        join in any::<bool>(),
        form in 0usize..3,
        list_flips in prop::collection::vec(any::<bool>(), 1..16),
        host_flips in prop::collection::vec(any::<bool>(), 1..16),
    ) {
        // Half the time make the host sit under the entry.
        let host = if join { format!("{host}.{entry}") } else { host };
        let entry = match form {
            0 => entry,
            1 => format!(".{entry}"),
            _ => format!("*.{entry}"),
        };
        let plain = Bypass::parse(&entry).matches(&host, 80).is_some();
        let cased = Bypass::parse(&recase(&entry, &list_flips))
            .matches(&recase(&host, &host_flips), 80)
            .is_some();
        prop_assert_eq!(plain, cased);
    }

    #[test]
    fn an_ipv4_address_inside_a_random_cidr_block_matches_and_one_outside_does_not(
        base in any::<u32>(),
        bits in 0u8..=32,
        noise in any::<u32>(),
        flip in 0u32..32,
    ) {
        let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
        let network = base & mask;
        let entry = format!("{}/{bits}", Ipv4Addr::from(network));
        let bypass = Bypass::parse(&entry);
        let inside = Ipv4Addr::from(network | (noise & !mask));
        prop_assert_eq!(bypass.matches(&inside.to_string(), 80), Some(entry.as_str()));
        if bits > 0 {
            // Flip one bit of the network part.
            let bit = 31 - (flip % u32::from(bits));
            let outside = Ipv4Addr::from(u32::from(inside) ^ (1 << bit));
            prop_assert_eq!(bypass.matches(&outside.to_string(), 80), None);
        }
    }

    #[test]
    fn an_ipv6_address_inside_a_random_cidr_block_matches_and_one_outside_does_not(
        base in any::<u128>(),
        bits in 0u8..=128,
        noise in any::<u128>(),
        flip in 0u32..128,
        bracketed in any::<bool>(),
    ) {
        let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) };
        let network = base & mask;
        let entry = format!("{}/{bits}", Ipv6Addr::from(network));
        let bypass = Bypass::parse(&entry);
        let host = |ip: Ipv6Addr| if bracketed { format!("[{ip}]") } else { ip.to_string() };
        let inside = Ipv6Addr::from(network | (noise & !mask));
        prop_assert_eq!(bypass.matches(&host(inside), 80), Some(entry.as_str()));
        if bits > 0 {
            let bit = 127 - (flip % u32::from(bits));
            let outside = Ipv6Addr::from(u128::from(inside) ^ (1 << bit));
            prop_assert_eq!(bypass.matches(&host(outside), 80), None);
        }
    }

    #[test]
    fn a_port_on_an_entry_limits_it_to_that_port(
        name in labels(),
        port in 1u16..,
        other in 1u16..,
    ) {
        let entry = format!("{name}:{port}");
        let bypass = Bypass::parse(&entry);
        prop_assert_eq!(bypass.matches(&name, port), Some(entry.as_str()));
        if other != port {
            prop_assert_eq!(bypass.matches(&name, other), None);
        }
    }

    #[test]
    fn a_name_is_never_matched_by_ip_entries_and_an_ip_never_by_names(
        name in "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}",
        ip in any::<u32>(),
    ) {
        let ip = Ipv4Addr::from(ip).to_string();
        prop_assert_eq!(hit(&format!("{ip}, {ip}/0, ::/0"), &name, 80), None);
        prop_assert_eq!(hit(&name, &ip, 80), None);
    }

    #[test]
    fn parsing_and_matching_never_panic(list in ".{0,64}", host in ".{0,32}", port in any::<u16>()) {
        let _ = Bypass::parse(&list).matches(&host, port);
    }
}
