//! `interpose ca ...`

use std::io::Write;

use anyhow::Context;
use interpose_tls::{trust_help, CertificateAuthority};

use crate::args::CaCommand;
use crate::DataDir;

pub fn run(data: &DataDir, cmd: CaCommand) -> anyhow::Result<()> {
    let dir = data.proxy_dir();
    match cmd {
        CaCommand::Path => {
            CertificateAuthority::load_or_create(&dir)?;
            println!("{}", CertificateAuthority::cert_path(&dir).display());
        }
        CaCommand::Export { der, output } => {
            let ca = CertificateAuthority::load_or_create(&dir)?;
            let bytes = if der {
                ca.cert_der().to_vec()
            } else {
                ca.cert_pem().as_bytes().to_vec()
            };
            match output {
                Some(path) => std::fs::write(&path, bytes)
                    .with_context(|| format!("cannot write the CA to {}", path.display()))?,
                None => std::io::stdout().write_all(&bytes)?,
            }
        }
        CaCommand::Regenerate => {
            CertificateAuthority::regenerate(&dir)?;
            let path = CertificateAuthority::cert_path(&dir);
            println!("made a new CA: {}", path.display());
            println!(
                "clients that trusted the old one must trust this one instead \
                 (see `interpose ca trust-help`); restart any running capture"
            );
        }
        CaCommand::TrustHelp => {
            CertificateAuthority::load_or_create(&dir)?;
            print!("{}", trust_help(&CertificateAuthority::cert_path(&dir)));
        }
    }
    Ok(())
}
