//! Geohash arithmetic as Redis 7.0.15 does it: the 52-bit interleaved score, decoding
//! to the centre of a cell, the eight neighbours of a cell, the cells a radius or box
//! search scans, and the haversine distance on Redis's Earth radius.
//!
//! Every formula keeps Redis's operation order and constants (`M_PI / 180` for degrees
//! to radians, an Earth radius of 6372797.560856 m, Mercator's 20037726.37 m), because a
//! last-bit difference in a coordinate shows in the 17-digit replies and a difference
//! in a distance can move a point in or out of a search.

/// Bits per coordinate of a stored score (26 + 26 = 52).
pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.051_128_78;
pub const LAT_MAX: f64 = 85.051_128_78;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;

const D_R: f64 = std::f64::consts::PI / 180.0;
const EARTH_RADIUS_IN_METERS: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;

/// A geohash of `step` bits per coordinate (`bits` holds `2 * step` bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    /// Redis's `HASHISZERO`: the marker of an excluded neighbour.
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// A closed interval of one coordinate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The cell a geohash stands for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    pub longitude: Range,
    pub latitude: Range,
}

/// The coordinate ranges of stored scores (Web Mercator's latitude limits).
pub const WGS84: (Range, Range) = (
    Range {
        min: LONG_MIN,
        max: LONG_MAX,
    },
    Range {
        min: LAT_MIN,
        max: LAT_MAX,
    },
);

fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let mut x = u64::from(xlo);
    let mut y = u64::from(ylo);
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
        0x0000_0000_FFFF_FFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let mut x = interleaved;
    let mut y = interleaved >> 1;
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// `geohashEncode`: `None` outside the supported coordinates or the given ranges.
pub fn encode(ranges: (Range, Range), longitude: f64, latitude: f64, step: u8) -> Option<HashBits> {
    let (long_range, lat_range) = ranges;
    if step > 32 || step == 0 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.min
        || latitude > lat_range.max
        || longitude < long_range.min
        || longitude > long_range.max
    {
        return None;
    }
    let mut lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (longitude - long_range.min) / (long_range.max - long_range.min);
    let scale = (1u64 << step) as f64;
    lat_offset *= scale;
    long_offset *= scale;
    Some(HashBits {
        bits: interleave64(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// `geohashDecode`: the cell of `hash`.
pub fn decode(ranges: (Range, Range), hash: HashBits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let (long_range, lat_range) = ranges;
    let sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    let div = (1u64 << hash.step) as f64;
    Some(Area {
        latitude: Range {
            min: lat_range.min + (f64::from(ilato) * 1.0 / div) * lat_scale,
            max: lat_range.min + (f64::from(ilato.wrapping_add(1)) * 1.0 / div) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (f64::from(ilono) * 1.0 / div) * long_scale,
            max: long_range.min + (f64::from(ilono.wrapping_add(1)) * 1.0 / div) * long_scale,
        },
    })
}

/// The centre of a cell, clamped to the supported coordinates.
fn area_center(area: &Area) -> (f64, f64) {
    let lon = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// C's `(uint64_t)` conversion of a double as x86-64 code generated by GCC does it.
pub fn double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if d.is_nan() {
        return 1 << 63;
    }
    if d < TWO63 {
        double_to_i64(d) as u64
    } else {
        (double_to_i64(d - TWO63) as u64) ^ (1 << 63)
    }
}

/// C's `(long long)` conversion of a double on x86-64 (`cvttsd2si`: out of range and NaN
/// give the minimum).
pub fn double_to_i64(d: f64) -> i64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if !(-TWO63..TWO63).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

/// Redis's `decodeGeohash`: the longitude and latitude a sorted set score stands for.
pub fn decode_score(score: f64) -> Option<(f64, f64)> {
    let hash = HashBits {
        bits: double_to_u64(score),
        step: STEP_MAX,
    };
    decode(WGS84, hash).map(|a| area_center(&a))
}

/// The score of a point (its 52-bit geohash). Callers validated the coordinates.
pub fn encode_score(longitude: f64, latitude: f64) -> Option<u64> {
    encode(WGS84, longitude, latitude, STEP_MAX).map(align52)
}

/// `geohashAlign52Bits`.
pub fn align52(hash: HashBits) -> u64 {
    hash.bits << (52 - u32::from(hash.step) * 2)
}

/// GEOHASH's 11-character standard geohash of a score, if it decodes.
pub fn standard_geohash(score: f64) -> Option<[u8; 11]> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score)?;
    let ranges = (
        Range {
            min: -180.0,
            max: 180.0,
        },
        Range {
            min: -90.0,
            max: 90.0,
        },
    );
    let bits = encode(ranges, lon, lat, 26).map_or(0, |h| h.bits);
    let mut out = [0u8; 11];
    for (i, c) in out.iter_mut().enumerate() {
        let idx = if i == 10 {
            0
        } else {
            ((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize
        };
        *c = ALPHABET[idx];
    }
    Some(out)
}

fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let mut x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz.wrapping_add(1));
    } else {
        x |= zz;
        x = x.wrapping_sub(zz.wrapping_add(1));
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    hash.bits = x | y;
}

fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz.wrapping_add(1));
    } else {
        y |= zz;
        y = y.wrapping_sub(zz.wrapping_add(1));
    }
    y &= 0x5555_5555_5555_5555u64 >> shift;
    hash.bits = x | y;
}

fn moved(hash: HashBits, dx: i8, dy: i8) -> HashBits {
    let mut h = hash;
    move_x(&mut h, dx);
    move_y(&mut h, dy);
    h
}

/// A search shape: a circle of `radius`, or a `width` x `height` box, in the unit whose
/// size in meters is `conversion`, around `(lon, lat)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub lon: f64,
    pub lat: f64,
    pub conversion: f64,
    pub kind: ShapeKind,
}

/// The two search shapes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeKind {
    Circle { radius: f64 },
    Box { width: f64, height: f64 },
}

/// `geohashEstimateStepsByRadius`.
fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// `geohashBoundingBox`: min longitude, min latitude, max longitude, max latitude.
fn bounding_box(shape: &Shape) -> [f64; 4] {
    let (lon, lat) = (shape.lon, shape.lat);
    let (h, w) = match shape.kind {
        ShapeKind::Circle { radius } => (radius, radius),
        ShapeKind::Box { width, height } => (height / 2.0, width / 2.0),
    };
    let height = shape.conversion * h;
    let width = shape.conversion * w;
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat + lat_delta).cos());
    let long_delta_bottom =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat - lat_delta).cos());
    let southern = lat < 0.0;
    let delta = if southern {
        long_delta_bottom
    } else {
        long_delta_top
    };
    [lon - delta, lat - lat_delta, lon + delta, lat + lat_delta]
}

/// The cells a search scans, in Redis's order: centre, N, S, E, W, NE, NW, SE, SW; cells
/// found useless are zero ([`HashBits::is_zero`]).
pub fn search_cells(shape: &Shape) -> [HashBits; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape);
    let radius_meters = match shape.kind {
        ShapeKind::Circle { radius } => radius,
        ShapeKind::Box { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    } * shape.conversion;
    let mut steps = estimate_steps(radius_meters, shape.lat);
    let cells = |steps: u8| {
        let hash = encode(WGS84, shape.lon, shape.lat, steps).unwrap_or(HashBits {
            bits: 0,
            step: steps,
        });
        let n = [
            hash,
            moved(hash, 0, 1),
            moved(hash, 0, -1),
            moved(hash, 1, 0),
            moved(hash, -1, 0),
            moved(hash, 1, 1),
            moved(hash, -1, 1),
            moved(hash, 1, -1),
            moved(hash, -1, -1),
        ];
        let area = decode(WGS84, hash);
        (n, area)
    };
    let (mut n, mut area) = cells(steps);

    let decrease = {
        let north = decode(WGS84, n[1]);
        let south = decode(WGS84, n[2]);
        let east = decode(WGS84, n[3]);
        let west = decode(WGS84, n[4]);
        north.is_some_and(|a| a.latitude.max < max_lat)
            || south.is_some_and(|a| a.latitude.min > min_lat)
            || east.is_some_and(|a| a.longitude.max < max_lon)
            || west.is_some_and(|a| a.longitude.min > min_lon)
    };
    if steps > 1 && decrease {
        steps -= 1;
        (n, area) = cells(steps);
    }

    if steps >= 2 {
        if let Some(area) = area {
            let zero = HashBits::default();
            if area.latitude.min < min_lat {
                n[2] = zero; // south
                n[8] = zero; // south west
                n[7] = zero; // south east
            }
            if area.latitude.max > max_lat {
                n[1] = zero; // north
                n[5] = zero; // north east
                n[6] = zero; // north west
            }
            if area.longitude.min < min_lon {
                n[4] = zero; // west
                n[8] = zero; // south west
                n[6] = zero; // north west
            }
            if area.longitude.max > max_lon {
                n[3] = zero; // east
                n[7] = zero; // south east
                n[5] = zero; // north east
            }
        }
    }
    n
}

/// The scores `[min, max)` of the points inside a cell.
pub fn cell_scores(hash: HashBits) -> (f64, f64) {
    let min = align52(hash);
    let next = HashBits {
        bits: hash.bits.wrapping_add(1),
        step: hash.step,
    };
    (min as f64, align52(next) as f64)
}

/// `geohashGetLatDistance`.
fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// `geohashGetDistance`: haversine distance in meters.
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// `geoWithinShape`: the point's distance from the centre (meters) if it is inside.
pub fn within(shape: &Shape, lon: f64, lat: f64) -> Option<f64> {
    match shape.kind {
        ShapeKind::Circle { radius } => {
            let d = distance(shape.lon, shape.lat, lon, lat);
            (d <= radius * shape.conversion).then_some(d)
        }
        ShapeKind::Box { width, height } => {
            let width_m = width * shape.conversion;
            let height_m = height * shape.conversion;
            if lat_distance(lat, shape.lat) > height_m / 2.0 {
                return None;
            }
            if distance(lon, lat, shape.lon, lat) > width_m / 2.0 {
                return None;
            }
            Some(distance(shape.lon, shape.lat, lon, lat))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            let d = deinterleave64(interleave64(x, y));
            assert_eq!((d as u32, (d >> 32) as u32), (x, y));
        }
    }

    #[test]
    fn palermo_score() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" stores this score in Redis.
        assert_eq!(
            encode_score(13.361389, 38.115556),
            Some(3_479_099_956_230_698)
        );
        let (lon, lat) = decode_score(3_479_099_956_230_698.0).unwrap_or((0.0, 0.0));
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
    }

    #[test]
    fn conversions_follow_x86() {
        assert_eq!(double_to_i64(1e19), i64::MIN);
        assert_eq!(double_to_u64(-1.0), u64::MAX);
        assert_eq!(double_to_u64(1e20), 0);
        assert_eq!(double_to_u64(1e19), 10_000_000_000_000_000_000);
    }
}
