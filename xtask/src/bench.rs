pub fn bench(_r: usize, _l: u64) -> anyhow::Result<()> {
    todo!()
}
