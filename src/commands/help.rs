//! `completions` and `man`: the shell completion scripts (clap_complete) and the manual page (clap_mangen), made
//! from the same clap definitions as the parser, so they never drift from the flags.

use std::io::Write as _;

use anyhow::Result;
use clap::CommandFactory as _;

use super::Exit;
use crate::cli::Cli;

pub(crate) fn completions(shell: clap_complete::Shell) -> Result<Exit> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "reaqtions", &mut out);
    write(&out)
}

pub(crate) fn man() -> Result<Exit> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    write(&out)
}

fn write(bytes: &[u8]) -> Result<Exit> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()?;
    Ok(Exit::Ok)
}
