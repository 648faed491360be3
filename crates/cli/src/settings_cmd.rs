//! `interpose settings show | path | set KEY VALUE` over `DATA/settings.toml`.

use interpose_route::Settings;

use crate::args::SettingsCommand;
use crate::DataDir;

pub fn run(data: &DataDir, cmd: SettingsCommand) -> anyhow::Result<()> {
    let path = data.settings_path();
    match cmd {
        SettingsCommand::Path => println!("{}", path.display()),
        SettingsCommand::Show => print!("{}", Settings::load(&path)?.show()),
        SettingsCommand::Set { key, value } => {
            let mut settings = Settings::load(&path)?;
            settings.set(&key, &value)?;
            settings.save(&path)?;
            let shown = if key.ends_with(".password") && !value.is_empty() {
                "***"
            } else {
                value.as_str()
            };
            println!("{key} = {shown}");
        }
    }
    Ok(())
}
