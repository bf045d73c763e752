//! Result rows and their columns.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use postgres_types::{FromSql, Type};

use crate::error::{Error, Result};

/// A column of a statement's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub(crate) name: String,
    pub(crate) type_: Type,
    pub(crate) table_oid: Option<u32>,
    pub(crate) column_id: Option<i16>,
}

impl Column {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn type_(&self) -> &Type {
        &self.type_
    }
    /// The table the column comes from, if it is a plain column.
    pub fn table_oid(&self) -> Option<u32> {
        self.table_oid
    }
    /// The column's number in that table.
    pub fn column_id(&self) -> Option<i16> {
        self.column_id
    }
}

/// One row of a result. Values stay in the backend's binary format until
/// read with [`get`](Self::get) or [`try_get`](Self::try_get).
#[derive(Clone)]
pub struct Row {
    pub(crate) columns: Arc<[Column]>,
    pub(crate) buffer: Bytes,
    pub(crate) ranges: Vec<Option<Range<usize>>>,
}

impl Row {
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The value of a column, by index or name, as `T`. NULL reads as
    /// `None` into an `Option`.
    ///
    /// # Panics
    /// When there is no such column or the value does not convert to `T`
    /// (as the `postgres` crate does); [`try_get`](Self::try_get) returns
    /// these as errors.
    pub fn get<'a, I, T>(&'a self, index: I) -> T
    where
        I: RowIndex + fmt::Display,
        T: FromSql<'a>,
    {
        match self.try_get(index) {
            Ok(value) => value,
            Err(err) => panic!("Row::get: {err}"),
        }
    }

    /// The value of a column, by index or name, as `T`.
    pub fn try_get<'a, I, T>(&'a self, index: I) -> Result<T>
    where
        I: RowIndex + fmt::Display,
        T: FromSql<'a>,
    {
        let Some(at) = index.index(&self.columns) else {
            return Err(Error::ColumnNotFound(index.to_string()));
        };
        let column = &self.columns[at];
        let failure = |source| Error::FromSql {
            column: column.name.clone(),
            source,
        };
        if !T::accepts(&column.type_) {
            return Err(failure(
                format!(
                    "cannot read a value of type {} as {}",
                    column.type_,
                    std::any::type_name::<T>()
                )
                .into(),
            ));
        }
        let raw = self.ranges[at].clone().map(|range| &self.buffer[range]);
        T::from_sql_nullable(&column.type_, raw).map_err(failure)
    }

    /// The raw binary value of a column (None for NULL).
    pub fn raw(&self, index: usize) -> Option<&[u8]> {
        self.ranges
            .get(index)?
            .clone()
            .map(|range| &self.buffer[range])
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Row")
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

/// What selects a column: its index or its name.
pub trait RowIndex: sealed::Sealed {
    #[doc(hidden)]
    fn index(&self, columns: &[Column]) -> Option<usize>;
}

impl RowIndex for usize {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
}

impl RowIndex for str {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        columns.iter().position(|c| c.name == self).or_else(|| {
            columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(self))
        })
    }
}

impl<T: RowIndex + ?Sized> RowIndex for &T {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        T::index(self, columns)
    }
}

impl RowIndex for String {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        self.as_str().index(columns)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for usize {}
    impl Sealed for str {}
    impl Sealed for String {}
    impl<T: Sealed + ?Sized> Sealed for &T {}
}
