//! A fixed-capacity receive buffer: bytes are read into the tail and consumed from the head,
//! compacted only when the tail runs out. Allocated once per connection slot and reused.

/// A receive buffer with a read window `start..end`.
pub struct RecvBuffer {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl RecvBuffer {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            data: vec![0; capacity],
            start: 0,
            end: 0,
        }
    }

    /// Grows the capacity (only when a configuration raised the header limit).
    pub fn ensure_capacity(&mut self, capacity: usize) {
        if self.data.len() < capacity {
            self.data.resize(capacity, 0);
        }
    }

    /// The unconsumed bytes.
    pub fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// True when no more bytes fit, even after compaction.
    pub fn is_full(&self) -> bool {
        self.end - self.start == self.data.len()
    }

    /// Drops `n` bytes from the front.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space at the tail (compacting first when the tail is exhausted).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.end == self.data.len() && self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.data[self.end..]
    }

    /// Marks `n` bytes of `spare()` as filled.
    pub fn commit(&mut self, n: usize) {
        self.end += n;
    }

    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }
}
