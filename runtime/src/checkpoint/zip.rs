//! A minimal reader of the zip container `torch.save` writes (PyTorch's `PyTorchStreamWriter`): stored
//! (uncompressed) entries, zip64 for archives over 4 GiB. Only the central directory is trusted for sizes; the
//! data of an entry is a byte range of the file, so tensors are read straight from a memory map.
//!
//! (The `zip` crate in the lock file is the old 0.6 pulled in by tch; torch archives need nothing it adds,
//! and a reader that validates every offset against the buffer cannot panic on a damaged file.)

use std::collections::HashMap;
use std::ops::Range;

/// One entry of the archive.
#[derive(Debug, Clone)]
pub struct ZipEntry {
    pub name: String,
    /// Byte range of the (stored) data in the archive.
    pub data: Range<usize>,
    /// The CRC-32 the central directory records for the data.
    pub crc32: u32,
}

/// The entries of an archive, by name.
#[derive(Debug)]
pub struct ZipIndex {
    pub entries: HashMap<String, ZipEntry>,
}

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;

fn u16_at(buf: &[u8], at: usize) -> Result<u16, String> {
    buf.get(at..at.checked_add(2).ok_or("offset overflow")?)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| format!("zip structure at byte {at} lies past the end of the file"))
}

fn u32_at(buf: &[u8], at: usize) -> Result<u32, String> {
    buf.get(at..at.checked_add(4).ok_or("offset overflow")?)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| format!("zip structure at byte {at} lies past the end of the file"))
}

fn u64_at(buf: &[u8], at: usize) -> Result<u64, String> {
    buf.get(at..at.checked_add(8).ok_or("offset overflow")?)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .ok_or_else(|| format!("zip structure at byte {at} lies past the end of the file"))
}

fn to_usize(v: u64, what: &str) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("{what} ({v}) does not fit in memory"))
}

/// Whether `buf` starts like a zip archive (a local file header).
pub fn looks_like_zip(buf: &[u8]) -> bool {
    buf.len() >= 4 && u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) == LOCAL_SIG
}

/// Reads the central directory of the archive in `buf`. Errors describe what is damaged.
pub fn read_index(buf: &[u8]) -> Result<ZipIndex, String> {
    // The end-of-central-directory record is the last 22 bytes plus a comment of at most 64 KiB.
    let min_eocd = buf
        .len()
        .checked_sub(22)
        .ok_or("file too short for a zip archive")?;
    let lowest = min_eocd.saturating_sub(0xFFFF);
    let eocd = (lowest..=min_eocd)
        .rev()
        .find(|&i| u32_at(buf, i) == Ok(EOCD_SIG))
        .ok_or("no end-of-central-directory record: the file is truncated or not a zip archive")?;
    let mut count = u64::from(u16_at(buf, eocd + 10)?);
    let mut cd_size = u64::from(u32_at(buf, eocd + 12)?);
    let mut cd_offset = u64::from(u32_at(buf, eocd + 16)?);
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        let locator = eocd
            .checked_sub(20)
            .ok_or("zip64 archive without its zip64 locator")?;
        if u32_at(buf, locator)? != ZIP64_LOCATOR_SIG {
            return Err("zip64 archive without its zip64 locator".into());
        }
        let record = to_usize(u64_at(buf, locator + 8)?, "zip64 record offset")?;
        if u32_at(buf, record)? != ZIP64_EOCD_SIG {
            return Err("damaged zip64 end-of-central-directory record".into());
        }
        count = u64_at(buf, record + 32)?;
        cd_size = u64_at(buf, record + 40)?;
        cd_offset = u64_at(buf, record + 48)?;
    }
    let cd_start = to_usize(cd_offset, "central directory offset")?;
    let cd_end = cd_start
        .checked_add(to_usize(cd_size, "central directory size")?)
        .filter(|&e| e <= buf.len())
        .ok_or("the central directory lies past the end of the file (truncated?)")?;
    // Each central entry is at least 46 bytes: a count beyond that is a lie, not an allocation request.
    if count > (cd_end - cd_start) as u64 / 46 {
        return Err(format!(
            "the central directory claims {count} entries in {} bytes",
            cd_end - cd_start
        ));
    }

    let mut entries = HashMap::new();
    let mut at = cd_start;
    for _ in 0..count {
        if at + 46 > cd_end || u32_at(buf, at)? != CENTRAL_SIG {
            return Err(format!("damaged central directory entry at byte {at}"));
        }
        let method = u16_at(buf, at + 10)?;
        let crc32 = u32_at(buf, at + 16)?;
        let mut comp_size = u64::from(u32_at(buf, at + 20)?);
        let mut size = u64::from(u32_at(buf, at + 24)?);
        let name_len = usize::from(u16_at(buf, at + 28)?);
        let extra_len = usize::from(u16_at(buf, at + 30)?);
        let comment_len = usize::from(u16_at(buf, at + 32)?);
        let mut local = u64::from(u32_at(buf, at + 42)?);
        let name_start = at + 46;
        let extra_start = name_start + name_len;
        let next = extra_start + extra_len + comment_len;
        if next > cd_end {
            return Err(format!("damaged central directory entry at byte {at}"));
        }
        let name = String::from_utf8(buf[name_start..extra_start].to_vec())
            .map_err(|_| format!("entry name at byte {name_start} is not UTF-8"))?;
        // zip64 extended information: the 64-bit values of the fields saturated above, in this order.
        let mut e = extra_start;
        while e + 4 <= extra_start + extra_len {
            let id = u16_at(buf, e)?;
            let len = usize::from(u16_at(buf, e + 2)?);
            if id == 0x0001 {
                let mut f = e + 4;
                for field in [&mut size, &mut comp_size, &mut local] {
                    if *field == 0xFFFF_FFFF {
                        if f + 8 > e + 4 + len {
                            return Err(format!("damaged zip64 field of entry `{name}`"));
                        }
                        *field = u64_at(buf, f)?;
                        f += 8;
                    }
                }
            }
            e += 4 + len;
        }
        if method != 0 {
            return Err(format!(
                "entry `{name}` is compressed (method {method}); torch.save writes stored entries only"
            ));
        }
        if comp_size != size {
            return Err(format!("entry `{name}`: stored sizes disagree"));
        }
        let local = to_usize(local, "local header offset")?;
        if u32_at(buf, local)? != LOCAL_SIG {
            return Err(format!(
                "entry `{name}`: damaged local header at byte {local}"
            ));
        }
        let data_start = local
            .checked_add(30)
            .and_then(|s| s.checked_add(usize::from(u16_at(buf, local + 26).ok()?)))
            .and_then(|s| s.checked_add(usize::from(u16_at(buf, local + 28).ok()?)))
            .ok_or_else(|| format!("entry `{name}`: damaged local header"))?;
        let data_end = data_start
            .checked_add(to_usize(size, "entry size")?)
            .filter(|&end| end <= buf.len())
            .ok_or_else(|| format!("entry `{name}` lies past the end of the file (truncated?)"))?;
        entries.insert(
            name.clone(),
            ZipEntry {
                name,
                data: data_start..data_end,
                crc32,
            },
        );
        at = next;
    }
    Ok(ZipIndex { entries })
}

/// Checks the CRC-32 of an entry's data.
pub fn verify_crc(buf: &[u8], entry: &ZipEntry) -> Result<(), String> {
    let actual = crc32fast::hash(&buf[entry.data.clone()]);
    if actual == entry.crc32 {
        Ok(())
    } else {
        Err(format!(
            "entry `{}` is damaged: CRC-32 {actual:08x}, expected {:08x}",
            entry.name, entry.crc32
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-entry archive whose sizes and offsets all live in zip64 fields, as torch writes past 4 GiB.
    fn zip64_archive(name: &str, data: &[u8]) -> Vec<u8> {
        let mut z = Vec::new();
        let crc = crc32fast::hash(data);
        let sat32 = 0xFFFF_FFFFu32.to_le_bytes();
        // local header
        z.extend(LOCAL_SIG.to_le_bytes());
        z.extend([45, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, method, time, date
        z.extend(crc.to_le_bytes());
        z.extend(sat32);
        z.extend(sat32);
        z.extend((name.len() as u16).to_le_bytes());
        z.extend(20u16.to_le_bytes());
        z.extend(name.as_bytes());
        z.extend(1u16.to_le_bytes());
        z.extend(16u16.to_le_bytes());
        z.extend((data.len() as u64).to_le_bytes());
        z.extend((data.len() as u64).to_le_bytes());
        z.extend(data);
        // central directory
        let cd_start = z.len();
        z.extend(CENTRAL_SIG.to_le_bytes());
        z.extend([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // made by, needed, flags, method, time, date
        z.extend(crc.to_le_bytes());
        z.extend(sat32);
        z.extend(sat32);
        z.extend((name.len() as u16).to_le_bytes());
        z.extend(28u16.to_le_bytes());
        z.extend([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // comment length, disk, attributes
        z.extend(sat32); // local header offset
        z.extend(name.as_bytes());
        z.extend(1u16.to_le_bytes());
        z.extend(24u16.to_le_bytes());
        z.extend((data.len() as u64).to_le_bytes());
        z.extend((data.len() as u64).to_le_bytes());
        z.extend(0u64.to_le_bytes());
        let cd_size = (z.len() - cd_start) as u64;
        // zip64 end record, locator, end record
        let record = z.len();
        z.extend(ZIP64_EOCD_SIG.to_le_bytes());
        z.extend(44u64.to_le_bytes());
        z.extend([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend(1u64.to_le_bytes());
        z.extend(1u64.to_le_bytes());
        z.extend(cd_size.to_le_bytes());
        z.extend((cd_start as u64).to_le_bytes());
        z.extend(ZIP64_LOCATOR_SIG.to_le_bytes());
        z.extend(0u32.to_le_bytes());
        z.extend((record as u64).to_le_bytes());
        z.extend(1u32.to_le_bytes());
        z.extend(EOCD_SIG.to_le_bytes());
        z.extend([0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        z.extend(sat32);
        z.extend(sat32);
        z.extend([0, 0]);
        z
    }

    #[test]
    fn zip64_fields_are_read() {
        let z = zip64_archive("archive/data.pkl", b"payload");
        let index = read_index(&z).unwrap();
        let e = &index.entries["archive/data.pkl"];
        assert_eq!(&z[e.data.clone()], b"payload");
        verify_crc(&z, e).unwrap();
    }

    #[test]
    fn every_truncation_of_an_archive_is_an_error() {
        let z = zip64_archive("archive/data.pkl", b"payload");
        for cut in 0..z.len() {
            assert!(read_index(&z[..cut]).is_err(), "cut at {cut}");
        }
    }
}
