//! GGML storage types and their dequantization to f32 (the block layouts of ggml-quants):
//! - Q8_0: blocks of 32: f16 scale d, 32 × i8 q; x = d·q.
//! - Q4_0: blocks of 32: f16 d, 16 bytes; low nibbles are elements 0..16, high nibbles 16..32; x = d·(q − 8).
//! - Q4_1: blocks of 32: f16 d, f16 minimum m, 16 bytes as Q4_0; x = d·q + m.

use half::{bf16, f16};

/// A tensor storage type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    Bf16,
    /// 8-bit blocks of 32 with an f16 scale.
    Q8_0,
    /// 4-bit blocks of 32 with an f16 scale.
    Q4_0,
    /// 4-bit blocks of 32 with an f16 scale and minimum.
    Q4_1,
    /// Any other ggml type id (reported as unsupported when read).
    Other(u32),
}

const BLOCK: usize = 32;

impl GgmlType {
    /// The type with ggml's numeric id.
    pub fn from_id(id: u32) -> GgmlType {
        match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            8 => GgmlType::Q8_0,
            30 => GgmlType::Bf16,
            other => GgmlType::Other(other),
        }
    }

    /// ggml's name of the type.
    pub fn name(self) -> String {
        match self {
            GgmlType::F32 => "F32".into(),
            GgmlType::F16 => "F16".into(),
            GgmlType::Bf16 => "BF16".into(),
            GgmlType::Q8_0 => "Q8_0".into(),
            GgmlType::Q4_0 => "Q4_0".into(),
            GgmlType::Q4_1 => "Q4_1".into(),
            GgmlType::Other(id) => {
                const NAMES: [&str; 31] = [
                    "F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K",
                    "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S",
                    "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16",
                ];
                NAMES.get(id as usize).map_or_else(|| format!("type {id}"), |n| (*n).to_owned())
            }
        }
    }

    /// Bytes taken by `n` elements, or `None` for an unsupported type or a partial block.
    pub fn byte_size(self, n: u64) -> Option<u64> {
        let blocks =
            |bytes_per_block: u64| n.is_multiple_of(BLOCK as u64).then_some(n / BLOCK as u64 * bytes_per_block);
        match self {
            GgmlType::F32 => Some(4 * n),
            GgmlType::F16 | GgmlType::Bf16 => Some(2 * n),
            GgmlType::Q8_0 => blocks(34),
            GgmlType::Q4_0 => blocks(18),
            GgmlType::Q4_1 => blocks(20),
            GgmlType::Other(_) => Some(0),
        }
    }

    /// Decodes `bytes` (exactly [`byte_size`](Self::byte_size) long) into f32 values.
    ///
    /// # Panics
    /// For [`GgmlType::Other`]; callers check first.
    pub fn dequantize(self, bytes: &[u8]) -> Vec<f32> {
        let half = |b: &[u8]| f16::from_le_bytes([b[0], b[1]]).to_f32();
        match self {
            GgmlType::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            GgmlType::F16 => bytes.chunks_exact(2).map(half).collect(),
            GgmlType::Bf16 => bytes.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            GgmlType::Q8_0 => {
                let mut out = Vec::with_capacity(bytes.len() / 34 * BLOCK);
                for block in bytes.chunks_exact(34) {
                    let d = half(&block[..2]);
                    out.extend(block[2..].iter().map(|&q| d * f32::from(q as i8)));
                }
                out
            }
            GgmlType::Q4_0 | GgmlType::Q4_1 => {
                let (size, has_min) = if self == GgmlType::Q4_1 { (20, true) } else { (18, false) };
                let mut out = Vec::with_capacity(bytes.len() / size * BLOCK);
                for block in bytes.chunks_exact(size) {
                    let d = half(&block[..2]);
                    let (m, qs) = if has_min { (half(&block[2..4]), &block[4..]) } else { (0.0, &block[2..]) };
                    let value = |q: u8| {
                        if has_min { f32::from(q) * d + m } else { f32::from(i16::from(q) - 8) * d }
                    };
                    out.extend(qs.iter().map(|&b| value(b & 0x0F)));
                    out.extend(qs.iter().map(|&b| value(b >> 4)));
                }
                out
            }
            GgmlType::Other(id) => panic!("ggml type {id} cannot be dequantized"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_1_block_layout() {
        let mut block = Vec::new();
        block.extend(f16::from_f32(0.5).to_le_bytes());
        block.extend(f16::from_f32(-1.0).to_le_bytes());
        block.extend((0u8..16).map(|i| (15 - i) << 4 | i));
        let x = GgmlType::Q4_1.dequantize(&block);
        assert_eq!(x.len(), 32);
        assert_eq!(x[0], -1.0); // q = 0
        assert_eq!(x[15], 6.5); // q = 15: 15 * 0.5 - 1
        assert_eq!(x[16], 6.5); // high nibble of byte 0 is 15
        assert_eq!(x[31], -1.0);
    }

    #[test]
    fn q8_0_and_q4_0() {
        let mut block = f16::from_f32(0.25).to_le_bytes().to_vec();
        block.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let x = GgmlType::Q8_0.dequantize(&block);
        assert_eq!((x[0], x[31]), (-4.0, 3.75));
        let mut block = f16::from_f32(2.0).to_le_bytes().to_vec();
        block.extend([0x8F; 16]);
        let x = GgmlType::Q4_0.dequantize(&block);
        assert_eq!((x[0], x[16]), (14.0, 0.0));
        assert_eq!(GgmlType::Q4_1.byte_size(64), Some(40));
        assert_eq!(GgmlType::Q4_1.byte_size(33), None);
    }
}
