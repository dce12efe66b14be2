//! sqlx's `migrate!` embeds the migration files at compile time; a new file alone does not make
//! cargo rebuild the crate, so say that the directories matter.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
