//! `interpose route URL`: which proxy a URL takes, and which rule decided.

use interpose_route::{decide, process_env, Flags, Settings};
use url::Url;

use crate::args::{ProxyArgs, RouteArgs};
use crate::DataDir;

/// The route flags as the decision takes them.
pub fn flags(args: &ProxyArgs) -> Flags {
    Flags {
        proxy: args.proxy.clone(),
        proxy_user: args.proxy_user.clone(),
        proxy_bypass: args.proxy_bypass.clone(),
        no_proxy: args.no_proxy,
        no_system_proxy: args.no_system_proxy,
    }
}

/// `url` as curl reads it: without a scheme, `http://`.
pub fn parse_url(raw: &str) -> anyhow::Result<Url> {
    let text = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    Url::parse(&text).map_err(|e| anyhow::anyhow!("bad URL \"{raw}\": {e}"))
}

pub fn run(data: &DataDir, args: RouteArgs) -> anyhow::Result<()> {
    let settings = Settings::load(&data.settings_path())?;
    let url = parse_url(&args.url)?;
    let route = decide(&url, &flags(&args.proxy), &settings, &process_env)?;
    if args.json {
        let mut shown = url.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        let value = serde_json::json!({
            "url": shown.as_str(),
            "proxy": route.proxy.as_ref().map(|p| p.without_credentials()),
            "reason": route.reason,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{}", route.describe(&url));
    }
    Ok(())
}
