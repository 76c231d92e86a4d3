//! `[s]B − [k]A` for a key checked many times, with an eighth of the doublings.
//!
//! curve25519-dalek's `vartime_double_scalar_mul_basepoint` runs about 253 doublings for every
//! check, one per bit of the scalars. A sensor signs thousands of readings with one key, so this
//! module spends about three checks' work once per key to precompute the odd multiples of
//! `A_j = [2^(32 j)](−A)` for `j = 0..8` (and, once per process, of `B_j = [2^(32 j)]B`), writes
//! `k` and `s` as eight 32-bit limbs each, and sums the sixteen 32-bit multiples in one Straus
//! loop: 32 doublings instead of about 253, for about as many additions as before. Its 64-bit
//! arithmetic is slower than dalek's AVX2 code per operation, but where the CPU lacks AVX-512
//! IFMA a check still costs about 1.4 times less (docs/ed25519.md).
//!
//! Nothing here decides a verdict on its own:
//! - The field arithmetic is fiat-crypto's, generated from formally verified code (the same
//!   code curve25519-dalek's `fiat` backend uses).
//! - The point formulas are curve25519-dalek's serial ones: complete on the whole curve,
//!   small-order points included, so a key's torsion is carried exactly as dalek carries it.
//! - Splitting a scalar into limbs is exact integer arithmetic, nothing is reduced mod `L`, so
//!   `Σ k_j·A_j` is the very point `[k](−A)`, whatever `A`'s order.
//! - A key's precomputation starts from its own decompression, which is kept only if it
//!   compresses to the same bytes as curve25519-dalek's decompression of the key: the point
//!   is the one dalek's `verify` uses, or the key is left to dalek's path.
//!
//! The result is the same group element `verify` computes, so its canonical encoding, compared
//! with `R`, is the same; a property test holds the verdicts to dalek's on valid, torsioned and
//! malformed claims.

use std::sync::OnceLock;

use curve25519_dalek::constants::ED25519_BASEPOINT_COMPRESSED;
use curve25519_dalek::edwards::EdwardsPoint;
use fiat_crypto::curve25519_64::{
    fiat_25519_add, fiat_25519_carry, fiat_25519_carry_mul, fiat_25519_carry_square,
    fiat_25519_from_bytes, fiat_25519_loose_field_element, fiat_25519_opp, fiat_25519_relax,
    fiat_25519_sub, fiat_25519_tight_field_element, fiat_25519_to_bytes,
};

/// An element of GF(2^255 − 19) in fiat-crypto's tight (carried) form: what additions and
/// subtractions take.
#[derive(Clone, Copy)]
struct Fe(fiat_25519_tight_field_element);

/// A sum or difference in fiat-crypto's loose form: what multiplications take, so a sum that
/// only feeds a multiplication is never carried. The two types keep fiat-crypto's bounds.
#[derive(Clone, Copy)]
struct Lo(fiat_25519_loose_field_element);

/// Either form, as a multiplication's operand.
trait Operand {
    fn loose(&self) -> fiat_25519_loose_field_element;
}

impl Operand for Fe {
    fn loose(&self) -> fiat_25519_loose_field_element {
        let mut out = fiat_25519_loose_field_element([0; 5]);
        fiat_25519_relax(&mut out, &self.0);
        out
    }
}

impl Operand for Lo {
    fn loose(&self) -> fiat_25519_loose_field_element {
        self.0
    }
}

impl Lo {
    fn carry(&self) -> Fe {
        let mut out = fiat_25519_tight_field_element([0; 5]);
        fiat_25519_carry(&mut out, &self.0);
        Fe(out)
    }
}

fn mul(a: &impl Operand, b: &impl Operand) -> Fe {
    let mut out = fiat_25519_tight_field_element([0; 5]);
    fiat_25519_carry_mul(&mut out, &a.loose(), &b.loose());
    Fe(out)
}

fn square(a: &impl Operand) -> Fe {
    let mut out = fiat_25519_tight_field_element([0; 5]);
    fiat_25519_carry_square(&mut out, &a.loose());
    Fe(out)
}

impl Fe {
    const ZERO: Fe = Fe(fiat_25519_tight_field_element([0; 5]));
    const ONE: Fe = Fe(fiat_25519_tight_field_element([1, 0, 0, 0, 0]));

    fn mul(&self, other: &Fe) -> Fe {
        mul(self, other)
    }

    fn square(&self) -> Fe {
        square(self)
    }

    fn relaxed(&self) -> Lo {
        Lo(self.loose())
    }

    fn plus(&self, other: &Fe) -> Lo {
        let mut out = fiat_25519_loose_field_element([0; 5]);
        fiat_25519_add(&mut out, &self.0, &other.0);
        Lo(out)
    }

    fn minus(&self, other: &Fe) -> Lo {
        let mut out = fiat_25519_loose_field_element([0; 5]);
        fiat_25519_sub(&mut out, &self.0, &other.0);
        Lo(out)
    }

    fn add(&self, other: &Fe) -> Fe {
        self.plus(other).carry()
    }

    fn sub(&self, other: &Fe) -> Fe {
        self.minus(other).carry()
    }

    fn neg(&self) -> Fe {
        let mut out = fiat_25519_loose_field_element([0; 5]);
        fiat_25519_opp(&mut out, &self.0);
        Lo(out).carry()
    }

    /// The element whose little-endian encoding is `bytes` with the top bit cleared (values
    /// from `p` to `2^255 − 1` are taken mod `p`, as curve25519-dalek takes them).
    fn from_bytes(bytes: &[u8; 32]) -> Fe {
        let mut masked = *bytes;
        masked[31] &= 0x7f;
        let mut out = fiat_25519_tight_field_element([0; 5]);
        fiat_25519_from_bytes(&mut out, &masked);
        Fe(out)
    }

    fn from_u64(value: u64) -> Fe {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&value.to_le_bytes());
        Fe::from_bytes(&bytes)
    }

    /// The canonical encoding (fully reduced mod `p`).
    fn to_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        fiat_25519_to_bytes(&mut out, &self.0);
        out
    }

    fn equals(&self, other: &Fe) -> bool {
        self.to_bytes() == other.to_bytes()
    }

    fn is_negative(&self) -> bool {
        self.to_bytes()[0] & 1 == 1
    }

    fn pow2k(&self, k: u32) -> Fe {
        let mut out = *self;
        for _ in 0..k {
            out = out.square();
        }
        out
    }

    /// `(self^(2^250 − 1), self^11)`: curve25519-dalek's addition chain.
    fn pow22501(&self) -> (Fe, Fe) {
        let t0 = self.square();
        let t1 = t0.square().square();
        let t2 = self.mul(&t1);
        let t3 = t0.mul(&t2);
        let t4 = t3.square();
        let t5 = t2.mul(&t4);
        let t6 = t5.pow2k(5);
        let t7 = t6.mul(&t5);
        let t8 = t7.pow2k(10);
        let t9 = t8.mul(&t7);
        let t10 = t9.pow2k(20);
        let t11 = t10.mul(&t9);
        let t12 = t11.pow2k(10);
        let t13 = t12.mul(&t7);
        let t14 = t13.pow2k(50);
        let t15 = t14.mul(&t13);
        let t16 = t15.pow2k(100);
        let t17 = t16.mul(&t15);
        let t18 = t17.pow2k(50);
        let t19 = t18.mul(&t13);
        (t19, t3)
    }

    /// `self^(p − 2)`, the inverse of a nonzero element (0 for 0).
    fn invert(&self) -> Fe {
        let (t19, t3) = self.pow22501();
        t19.pow2k(5).mul(&t3)
    }

    /// `self^((p − 5) / 8)`.
    fn pow_p58(&self) -> Fe {
        let (t19, _) = self.pow22501();
        self.mul(&t19.pow2k(2))
    }
}

/// `d = −121665 / 121666`, the curve constant.
fn edwards_d() -> Fe {
    Fe::from_u64(121665)
        .neg()
        .mul(&Fe::from_u64(121666).invert())
}

/// `2^((p − 1) / 4)`, a square root of −1 (a test checks it).
const SQRT_M1: [u8; 32] = [
    0xb0, 0xa0, 0x0e, 0x4a, 0x27, 0x1b, 0xee, 0xc4, 0x78, 0xe4, 0x2f, 0xad, 0x06, 0x18, 0x43, 0x2f,
    0xa7, 0xd7, 0xfb, 0x3d, 0x99, 0x00, 0x4d, 0x2b, 0x0b, 0xdf, 0xc1, 0x4f, 0x80, 0x24, 0x83, 0x2b,
];

struct Constants {
    d: Fe,
    d2: Fe,
    sqrt_m1: Fe,
}

fn constants() -> &'static Constants {
    static CONSTANTS: OnceLock<Constants> = OnceLock::new();
    CONSTANTS.get_or_init(|| {
        let d = edwards_d();
        Constants {
            d,
            d2: d.add(&d),
            sqrt_m1: Fe::from_bytes(&SQRT_M1),
        }
    })
}

/// A point in extended coordinates: `x = X/Z`, `y = Y/Z`, `xy = T/Z`.
#[derive(Clone, Copy)]
struct Extended {
    x: Fe,
    y: Fe,
    z: Fe,
    t: Fe,
}

/// A point in projective coordinates, for chains of doublings.
#[derive(Clone, Copy)]
struct Projective {
    x: Fe,
    y: Fe,
    z: Fe,
}

/// The "completed" result of an addition or doubling, before one of the conversions below
/// (which only multiply its coordinates, so they stay loose).
#[derive(Clone, Copy)]
struct Completed {
    x: Lo,
    y: Lo,
    z: Lo,
    t: Lo,
}

/// A precomputed table entry: `(y + x, y − x, 2dxy)` of an affine point.
#[derive(Clone, Copy)]
struct AffineNiels {
    y_plus_x: Fe,
    y_minus_x: Fe,
    xy2d: Fe,
}

impl Extended {
    const IDENTITY: Extended = Extended {
        x: Fe::ZERO,
        y: Fe::ONE,
        z: Fe::ONE,
        t: Fe::ZERO,
    };

    /// curve25519-dalek's `CompressedEdwardsY::decompress` steps: `None` when the bytes are not
    /// a curve point. `y` is taken mod `p`; `x = 0` with the sign bit set is accepted as `x = 0`.
    fn decompress(bytes: &[u8; 32]) -> Option<Extended> {
        let c = constants();
        let y = Fe::from_bytes(bytes);
        let yy = y.square();
        let u = yy.sub(&Fe::ONE);
        let v = yy.mul(&c.d).add(&Fe::ONE);
        // sqrt_ratio_i(u, v): the nonnegative square root of u/v when there is one.
        let v3 = v.square().mul(&v);
        let v7 = v3.square().mul(&v);
        let mut r = u.mul(&v3).mul(&u.mul(&v7).pow_p58());
        let check = v.mul(&r.square());
        let correct = check.equals(&u);
        let flipped = check.equals(&u.neg());
        let flipped_i = check.equals(&u.neg().mul(&c.sqrt_m1));
        if flipped || flipped_i {
            r = r.mul(&c.sqrt_m1);
        }
        if r.is_negative() {
            r = r.neg();
        }
        if !(correct || flipped) {
            return None;
        }
        let x = if bytes[31] >> 7 == 1 { r.neg() } else { r };
        Some(Extended {
            x,
            y,
            z: Fe::ONE,
            t: x.mul(&y),
        })
    }

    fn neg(&self) -> Extended {
        Extended {
            x: self.x.neg(),
            y: self.y,
            z: self.z,
            t: self.t.neg(),
        }
    }

    fn projective(&self) -> Projective {
        Projective {
            x: self.x,
            y: self.y,
            z: self.z,
        }
    }

    fn double(&self) -> Extended {
        self.projective().double().extended()
    }

    /// `self + other`, both extended (curve25519-dalek's `add` of a projective Niels point).
    fn add(&self, other: &Extended) -> Extended {
        let d2 = constants().d2;
        let pp = mul(&self.y.plus(&self.x), &other.y.plus(&other.x));
        let mm = mul(&self.y.minus(&self.x), &other.y.minus(&other.x));
        let tt2d = self.t.mul(&other.t.mul(&d2));
        let zz = self.z.mul(&other.z);
        let zz2 = zz.add(&zz);
        Completed {
            x: pp.minus(&mm),
            y: pp.plus(&mm),
            z: zz2.plus(&tt2d),
            t: zz2.minus(&tt2d),
        }
        .extended()
    }

    /// `self + other`, or `self − other` when `subtract` (curve25519-dalek's `add` and `sub` of
    /// an affine Niels point: subtracting adds `−other`, whose `y + x` and `y − x` are swapped
    /// and whose `2dxy` is negated, which here swaps the last two sums).
    fn add_niels(&self, other: &AffineNiels, subtract: bool) -> Completed {
        let (plus, minus) = if subtract {
            (&other.y_minus_x, &other.y_plus_x)
        } else {
            (&other.y_plus_x, &other.y_minus_x)
        };
        let pp = mul(&self.y.plus(&self.x), plus);
        let mm = mul(&self.y.minus(&self.x), minus);
        let txy2d = self.t.mul(&other.xy2d);
        let z2 = self.z.add(&self.z);
        let (z, t) = (z2.plus(&txy2d), z2.minus(&txy2d));
        Completed {
            x: pp.minus(&mm),
            y: pp.plus(&mm),
            z: if subtract { t } else { z },
            t: if subtract { z } else { t },
        }
    }
}

impl Projective {
    const IDENTITY: Projective = Projective {
        x: Fe::ZERO,
        y: Fe::ONE,
        z: Fe::ONE,
    };

    fn double(&self) -> Completed {
        let xx = self.x.square();
        let yy = self.y.square();
        let zz = self.z.square();
        let zz2 = zz.add(&zz);
        let x_plus_y_sq = square(&self.x.plus(&self.y));
        let yy_plus_xx = yy.add(&xx);
        let yy_minus_xx = yy.sub(&xx);
        Completed {
            x: x_plus_y_sq.minus(&yy_plus_xx),
            y: yy_plus_xx.relaxed(),
            z: yy_minus_xx.relaxed(),
            t: zz2.minus(&yy_minus_xx),
        }
    }
}

impl Completed {
    fn projective(&self) -> Projective {
        Projective {
            x: mul(&self.x, &self.t),
            y: mul(&self.y, &self.z),
            z: mul(&self.z, &self.t),
        }
    }

    fn extended(&self) -> Extended {
        Extended {
            x: mul(&self.x, &self.t),
            y: mul(&self.y, &self.z),
            z: mul(&self.z, &self.t),
            t: mul(&self.x, &self.y),
        }
    }
}

/// `1/z` for every `z` (all nonzero) with one inversion (Montgomery's trick).
fn invert_all(values: &[Fe]) -> Vec<Fe> {
    let mut prefix = Vec::with_capacity(values.len());
    let mut acc = Fe::ONE;
    for v in values {
        prefix.push(acc);
        acc = acc.mul(v);
    }
    let mut inv = acc.invert();
    let mut out = vec![Fe::ZERO; values.len()];
    for i in (0..values.len()).rev() {
        out[i] = inv.mul(&prefix[i]);
        inv = inv.mul(&values[i]);
    }
    out
}

/// The affine Niels forms of `points`, with one shared inversion.
fn niels_all(points: &[Extended]) -> Vec<AffineNiels> {
    let d2 = constants().d2;
    let zs: Vec<Fe> = points.iter().map(|p| p.z).collect();
    invert_all(&zs)
        .iter()
        .zip(points)
        .map(|(recip, p)| {
            let x = p.x.mul(recip);
            let y = p.y.mul(recip);
            AffineNiels {
                y_plus_x: y.add(&x),
                y_minus_x: y.sub(&x),
                xy2d: x.mul(&y).mul(&d2),
            }
        })
        .collect()
}

/// The canonical encodings of `points`, with one shared inversion.
fn compress_all(points: &[Extended]) -> Vec<[u8; 32]> {
    let zs: Vec<Fe> = points.iter().map(|p| p.z).collect();
    invert_all(&zs)
        .iter()
        .zip(points)
        .map(|(recip, p)| {
            let mut bytes = p.y.mul(recip).to_bytes();
            bytes[31] ^= u8::from(p.x.mul(recip).is_negative()) << 7;
            bytes
        })
        .collect()
}

/// Limbs a scalar is cut into, and their width in bits.
const LIMBS: usize = 8;
const LIMB_BITS: u32 = 256 / LIMBS as u32;
const LIMB_BYTES: usize = LIMB_BITS as usize / 8;
/// Digits of a limb's width-`w` NAF: one more than its bits, for the final carry. (The top
/// limb of `k` or `s`, both below `L < 2^253`, is below `2^29`.)
const NAF_DIGITS: usize = LIMB_BITS as usize + 1;
/// NAF widths: the key's tables hold 8 odd multiples per limb (width 5: 64 entries, about
/// 7.7 KB a key), the basepoint's 64 per limb (width 8: computed once per process, 61 KB).
const KEY_WIDTH: u32 = 5;
const BASE_WIDTH: u32 = 8;

/// The width-`w` non-adjacent form of `value` (below `2^LIMB_BITS`): `value = Σ naf[i]·2^i`,
/// each digit zero or odd with `|digit| < 2^(w−1)`, any two nonzero digits at least `w` apart.
fn naf(value: u64, w: u32) -> [i8; NAF_DIGITS] {
    let mut digits = [0i8; NAF_DIGITS];
    let mut rest = i128::from(value);
    let modulus = 1i128 << w;
    let mut i = 0;
    while rest != 0 {
        if rest & 1 == 1 {
            let mut digit = rest & (modulus - 1);
            if digit >= modulus / 2 {
                digit -= modulus;
            }
            digits[i] = digit as i8;
            rest -= digit;
        }
        rest >>= 1;
        i += 1;
    }
    digits
}

/// The odd multiples `Q, 3Q, …, (2^(w−1) − 1)Q` of `Q = [2^(32 j)]P` for each `j < LIMBS`, in
/// affine Niels form: `tables[j][m]` is `(2m + 1)·[2^(32 j)]P`.
fn limb_tables(point: &Extended, w: u32) -> Vec<Vec<AffineNiels>> {
    let per_table = 1usize << (w - 2);
    let mut points = Vec::with_capacity(LIMBS * per_table);
    let mut base = *point;
    for j in 0..LIMBS {
        if j > 0 {
            for _ in 0..LIMB_BITS {
                base = base.double();
            }
        }
        let twice = base.double();
        let mut multiple = base;
        for _ in 0..per_table {
            points.push(multiple);
            multiple = multiple.add(&twice);
        }
    }
    let niels = niels_all(&points);
    niels
        .chunks(per_table)
        .map(<[AffineNiels]>::to_vec)
        .collect()
}

fn basepoint_tables() -> &'static [Vec<AffineNiels>] {
    static TABLES: OnceLock<Vec<Vec<AffineNiels>>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let base = Extended::decompress(ED25519_BASEPOINT_COMPRESSED.as_bytes())
            .expect("the Ed25519 basepoint decompresses");
        limb_tables(&base, BASE_WIDTH)
    })
}

/// A key's precomputation: the tables of `−A`, about 7.7 KB.
pub struct KeyTables {
    tables: Vec<Vec<AffineNiels>>,
}

impl KeyTables {
    /// The tables of `−A` for the key whose 32 bytes are `key` and which curve25519-dalek
    /// decompressed to `dalek_point`; `None` when this module's decompression does not give
    /// the same point (the key then stays on dalek's path).
    pub fn new(key: &[u8; 32], dalek_point: &EdwardsPoint) -> Option<KeyTables> {
        let point = Extended::decompress(key)?;
        if compress_all(&[point])[0] != dalek_point.compress().to_bytes() {
            return None;
        }
        Some(KeyTables {
            tables: limb_tables(&point.neg(), KEY_WIDTH),
        })
    }

    /// `[s]B + [k](−A)` for `s` and `k` given as 32 little-endian bytes (any values below
    /// 2^256; the callers pass `s < L` and `k < L`).
    fn combine(&self, s: &[u8; 32], k: &[u8; 32]) -> Extended {
        let base = basepoint_tables();
        let limb = |bytes: &[u8; 32], j: usize| {
            let mut wide = [0u8; 8];
            wide[..LIMB_BYTES].copy_from_slice(&bytes[LIMB_BYTES * j..LIMB_BYTES * (j + 1)]);
            u64::from_le_bytes(wide)
        };
        let mut digits: Vec<([i8; NAF_DIGITS], &[AffineNiels])> = Vec::with_capacity(2 * LIMBS);
        for (j, (base_table, key_table)) in base.iter().zip(&self.tables).enumerate() {
            digits.push((naf(limb(s, j), BASE_WIDTH), base_table));
            digits.push((naf(limb(k, j), KEY_WIDTH), key_table));
        }
        let top = (0..NAF_DIGITS)
            .rev()
            .find(|&i| digits.iter().any(|(naf, _)| naf[i] != 0));
        let Some(top) = top else {
            return Extended::IDENTITY;
        };
        let mut acc = Projective::IDENTITY;
        for i in (0..=top).rev() {
            let mut sum = acc.double();
            for (naf, table) in &digits {
                let digit = naf[i];
                if digit > 0 {
                    sum = sum
                        .extended()
                        .add_niels(&table[(digit / 2) as usize], false);
                } else if digit < 0 {
                    sum = sum
                        .extended()
                        .add_niels(&table[(-digit / 2) as usize], true);
                }
            }
            acc = sum.projective();
        }
        Extended {
            x: acc.x.mul(&acc.z),
            y: acc.y.mul(&acc.z),
            z: acc.z.square(),
            t: acc.x.mul(&acc.y),
        }
    }
}

/// The canonical encodings of `[s_i]B + [k_i](−A_i)` for each `(tables_i, s_i, k_i)`, with one
/// shared inversion.
pub fn recomputed_encodings(claims: &[(&KeyTables, [u8; 32], [u8; 32])]) -> Vec<[u8; 32]> {
    let points: Vec<Extended> = claims
        .iter()
        .map(|(tables, s, k)| tables.combine(s, k))
        .collect();
    compress_all(&points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::scalar::Scalar;

    #[test]
    fn the_constants_are_the_curves() {
        let c = constants();
        assert!(c.sqrt_m1.square().equals(&Fe::ONE.neg()));
        assert!(c
            .d
            .mul(&Fe::from_u64(121666))
            .equals(&Fe::from_u64(121665).neg()));
    }

    #[test]
    fn naf_digits_sum_to_the_value() {
        for (i, value) in [
            0u64,
            1,
            2,
            255,
            u64::MAX,
            u64::MAX - 1,
            1 << 63,
            0x5555_5555_5555_5555,
        ]
        .into_iter()
        .chain((0..2000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
        .map(|v| v & (u64::MAX >> (64 - LIMB_BITS)))
        .enumerate()
        {
            for w in [KEY_WIDTH, BASE_WIDTH] {
                let digits = naf(value, w);
                let sum: i128 = digits
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| i128::from(d) << i)
                    .sum();
                assert_eq!(sum, i128::from(value), "case {i}, width {w}");
                let nonzero: Vec<usize> = (0..NAF_DIGITS).filter(|&i| digits[i] != 0).collect();
                assert!(nonzero.windows(2).all(|p| p[1] - p[0] >= w as usize));
                assert!(digits
                    .iter()
                    .all(|&d| d == 0 || (d % 2 != 0 && i32::from(d).abs() < 1 << (w - 1))));
            }
        }
    }

    #[test]
    fn multiples_agree_with_dalek() {
        for seed in 1u64..40 {
            let a = EdwardsPoint::mul_base(&Scalar::from(seed * 1_000_003 + 7));
            // A mixed-order key: the prime-order point plus an 8-torsion point.
            let torsion = curve25519_dalek::constants::EIGHT_TORSION[(seed % 8) as usize];
            for point in [a, a + torsion] {
                let bytes = point.compress().to_bytes();
                let tables = KeyTables::new(&bytes, &point).expect("same decompression");
                let k = Scalar::from_bytes_mod_order_wide(&[seed as u8; 64]);
                let s = Scalar::from_bytes_mod_order_wide(&[(seed * 3) as u8 + 1; 64]);
                let expected =
                    EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-point, &s).compress();
                let got = recomputed_encodings(&[(&tables, s.to_bytes(), k.to_bytes())]);
                assert_eq!(got[0], expected.to_bytes(), "seed {seed}");
            }
        }
    }
}
