use pyo3::prelude::*;

#[pymodule(gil_used = false)]
fn rust_core(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
