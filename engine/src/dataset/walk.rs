//! One pass over an encoded data set that checks every length against what
//! is left of its container before anything is read or allocated.
//!
//! The walk stops at the first length that lies (the data set is *cut*
//! there) and reads two common mis-encodings the way pydicom and DCMTK do:
//! an element without a VR under an explicit VR transfer syntax is read as
//! implicit VR, and a UN element of undefined length is read as the
//! sequence it holds (PS3.5 §6.2.2). Given somewhere to write, it writes
//! what it read as a well-formed data set in the same transfer syntax:
//! every sequence and item of undefined length, closed even where the input
//! was cut, so a decoder given those bytes never sees a length larger than
//! the bytes themselves.

use std::io::{self, BufReader, Read, Seek};

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_END: Tag = Tag(0xFFFE, 0xE00D);
const SEQUENCE_END: Tag = Tag(0xFFFE, 0xE0DD);
pub(super) const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);
const UNDEFINED: u32 = 0xFFFF_FFFF;

/// How a transfer syntax encodes element headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    pub explicit_vr: bool,
    pub big_endian: bool,
}

/// Where the walk ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Before the first top-level element from Pixel Data (7FE0,0010) on.
    BeforePixelData,
    /// At the end of the data set.
    End,
}

/// What one walk found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Walked {
    /// Bytes walked from the start (the offset of Pixel Data when the walk
    /// stopped there).
    pub end: u64,
    /// The lie that ended the walk early, if one did.
    pub cut: Option<String>,
    /// Elements read otherwise than their transfer syntax says.
    pub repairs: Vec<String>,
    /// Whether a repair left an element out of the copy.
    pub left_out: bool,
}

impl Walked {
    /// Whether the bytes are exactly what a decoder expects, up to `end`.
    pub fn clean(&self) -> bool {
        self.cut.is_none() && self.repairs.is_empty()
    }
}

/// Walks `len` bytes of a data set from `input`, writing what it reads to
/// `out` when given one (skipping values otherwise).
///
/// # Errors
/// Only I/O errors: a lying length is reported in [`Walked::cut`].
pub fn walk<R: Read + Seek>(
    input: R,
    len: u64,
    encoding: Encoding,
    stop: Stop,
    out: Option<&mut Vec<u8>>,
) -> io::Result<Walked> {
    walk_into(input, len, encoding, encoding, stop, out)
}

/// [`walk`], writing element headers in `out_encoding`: explicit or
/// implicit VR, of the same byte order (values are copied as they are, so
/// the byte order cannot change).
///
/// # Errors
/// As [`walk`].
pub fn walk_into<R: Read + Seek>(
    input: R,
    len: u64,
    encoding: Encoding,
    out_encoding: Encoding,
    stop: Stop,
    out: Option<&mut Vec<u8>>,
) -> io::Result<Walked> {
    debug_assert_eq!(encoding.big_endian, out_encoding.big_endian);
    let mut walker = Walker {
        input: BufReader::new(input),
        pos: 0,
        out,
        encoding,
        out_encoding,
        stop,
        repairs: Vec::new(),
        left_out: false,
    };
    let outcome = walker.elements(len, encoding.explicit_vr, Level::Top);
    let cut = match outcome {
        Ok(_) => None,
        Err(Halt::Cut(why)) => Some(why),
        Err(Halt::Io(e)) => return Err(e),
    };
    Ok(Walked {
        end: walker.pos,
        cut,
        repairs: walker.repairs,
        left_out: walker.left_out,
    })
}

enum Halt {
    Cut(String),
    Io(io::Error),
}

impl From<io::Error> for Halt {
    fn from(e: io::Error) -> Self {
        Halt::Io(e)
    }
}

fn cut<T>(why: String) -> Result<T, Halt> {
    Err(Halt::Cut(why))
}

/// Which elements a walk of elements is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    /// An item of defined length: it ends at its length.
    Item,
    /// An item of undefined length: it ends at its delimiter.
    DelimitedItem,
}

struct Walker<'o, R> {
    input: BufReader<R>,
    /// Bytes of the data set consumed so far.
    pos: u64,
    out: Option<&'o mut Vec<u8>>,
    encoding: Encoding,
    /// How headers are written.
    out_encoding: Encoding,
    stop: Stop,
    repairs: Vec<String>,
    left_out: bool,
}

impl<R: Read + Seek> Walker<'_, R> {
    /// The elements of a data set or item, up to `end` or its delimiter.
    fn elements(&mut self, end: u64, explicit: bool, level: Level) -> Result<(), Halt> {
        loop {
            if self.pos == end {
                if level == Level::DelimitedItem {
                    return cut(format!("an item ends at byte {end} without its delimiter"));
                }
                return Ok(());
            }
            let at = self.pos;
            let tag = self.tag(end, at)?;
            if tag == ITEM_END {
                self.u32(end, at)?;
                if level == Level::DelimitedItem {
                    return Ok(());
                }
                return cut(format!("an item delimiter at byte {at} is outside an item"));
            }
            if level == Level::Top && self.stop == Stop::BeforePixelData && tag >= PIXEL_DATA {
                self.pos = at;
                return Ok(());
            }
            if tag.group() == 0xFFFE {
                return cut(format!("{tag} at byte {at} is not a data element"));
            }
            let (vr, len) = self.element_header(tag, at, end, explicit)?;
            if len == UNDEFINED {
                if tag == PIXEL_DATA {
                    self.write_header(tag, vr, UNDEFINED);
                    let fragments = self.fragments(end);
                    self.write_header(SEQUENCE_END, VR::UN, 0);
                    fragments?;
                } else if vr == VR::SQ || vr == VR::UN || !explicit {
                    // A UN of undefined length holds implicit VR items.
                    let contents_explicit = explicit && vr == VR::SQ;
                    if vr == VR::UN {
                        self.repairs.push(format!(
                            "{tag} at byte {at} is UN of undefined length: read as a sequence"
                        ));
                    }
                    self.sequence(tag, end, contents_explicit)?;
                } else {
                    return cut(format!(
                        "{tag} at byte {at} is {vr} of undefined length, which only sequences \
                         and pixel data may have"
                    ));
                }
                continue;
            }
            let left = end - self.pos;
            if u64::from(len) > left {
                return cut(format!(
                    "{tag} at byte {at} says its value has {len} bytes, but {left} are left"
                ));
            }
            // The decoder reads a UN of a tag it knows as the dictionary's VR.
            let known = dictionary_vr(tag);
            if vr == VR::UN && explicit && known == VR::SQ {
                self.repairs.push(format!(
                    "{tag} at byte {at} is UN holding a sequence: read as the sequence"
                ));
                self.sequence(tag, self.pos + u64::from(len), false)?;
                continue;
            }
            if vr == VR::SQ {
                self.sequence(tag, self.pos + u64::from(len), explicit)?;
                continue;
            }
            self.value_of(tag, vr, known, len, at)?;
        }
    }

    /// A value of a defined length that was checked, written as the
    /// decoder of the copy will read it: a length that is not a whole
    /// number of its values would leave the decoder reading the next header
    /// from inside this value, and a value that is not a sequence where
    /// implicit VR says sequence would be read as items. Such a value is
    /// written as UN when the decoder can read it so, else left out.
    /// `known` is the tag's VR in the dictionary (UN when it has none).
    fn value_of(&mut self, tag: Tag, vr: VR, known: VR, len: u32, at: u64) -> Result<(), Halt> {
        let read_as = match (self.out_encoding.explicit_vr, vr) {
            (true, VR::UN) => known,
            (true, _) => vr,
            (false, _) => known,
        };
        let fits = |vr: VR| vr != VR::SQ && len.is_multiple_of(value_size(vr));
        if fits(read_as) {
            self.write_header(tag, vr, len);
            return self.value(len);
        }
        let why = if read_as == VR::SQ {
            format!("{tag} at byte {at} is {vr}, but would be read as a sequence")
        } else {
            format!(
                "{tag} at byte {at} is {read_as} of {len} bytes, not a multiple of {}",
                value_size(read_as)
            )
        };
        if self.out_encoding.explicit_vr && fits(known) {
            self.repairs.push(format!("{why}: read as UN"));
            self.write_header(tag, VR::UN, len);
            self.value(len)
        } else {
            self.repairs.push(format!("{why}: left out"));
            self.skip(len)
        }
    }

    /// A sequence's items, up to `end` or its delimiter, written as a
    /// sequence of undefined length.
    fn sequence(&mut self, tag: Tag, end: u64, explicit: bool) -> Result<(), Halt> {
        self.write_header(tag, VR::SQ, UNDEFINED);
        let items = self.items(end, explicit);
        self.write_header(SEQUENCE_END, VR::UN, 0);
        items
    }

    fn items(&mut self, end: u64, explicit: bool) -> Result<(), Halt> {
        loop {
            if self.pos == end {
                // A sequence of defined length ends here; one of undefined
                // length should have met its delimiter first, but nothing
                // is lost by ending it.
                return Ok(());
            }
            let at = self.pos;
            let tag = self.tag(end, at)?;
            let len = self.u32(end, at)?;
            if tag == SEQUENCE_END {
                return Ok(());
            }
            if tag != ITEM {
                return cut(format!("byte {at} should start an item but holds {tag}"));
            }
            let (item_end, level) = if len == UNDEFINED {
                (end, Level::DelimitedItem)
            } else {
                let left = end - self.pos;
                if u64::from(len) > left {
                    return cut(format!(
                        "the item at byte {at} says it has {len} bytes, but {left} are left"
                    ));
                }
                (self.pos + u64::from(len), Level::Item)
            };
            self.write_header(ITEM, VR::UN, UNDEFINED);
            let elements = self.elements(item_end, explicit, level);
            self.write_header(ITEM_END, VR::UN, 0);
            elements?;
        }
    }

    /// Encapsulated pixel data: items of defined length up to the delimiter.
    fn fragments(&mut self, end: u64) -> Result<(), Halt> {
        loop {
            let at = self.pos;
            let tag = self.tag(end, at)?;
            let len = self.u32(end, at)?;
            if tag == SEQUENCE_END {
                return Ok(());
            }
            let left = end - self.pos;
            if tag != ITEM || len == UNDEFINED || u64::from(len) > left {
                return cut(format!(
                    "the pixel data fragment at byte {at} ({tag}, {len} bytes) does not fit \
                     the {left} bytes left"
                ));
            }
            self.write_header(ITEM, VR::UN, len);
            self.value(len)?;
        }
    }

    /// An element's VR and value length, after its tag.
    fn element_header(
        &mut self,
        tag: Tag,
        at: u64,
        end: u64,
        explicit: bool,
    ) -> Result<(VR, u32), Halt> {
        if !explicit {
            return Ok((dictionary_vr(tag), self.u32(end, at)?));
        }
        let two = self.bytes::<2>(end, at)?;
        match VR::from_binary(two) {
            Some(vr) if long_length(vr) => {
                self.bytes::<2>(end, at)?;
                Ok((vr, self.u32(end, at)?))
            }
            Some(vr) => {
                let len = self.bytes::<2>(end, at)?;
                Ok((vr, u32::from(self.u16_from(len))))
            }
            None if !self.encoding.big_endian => {
                // No VR: the two bytes are the low half of an implicit
                // VR length (always little endian).
                let high = self.bytes::<2>(end, at)?;
                let len = u32::from_le_bytes([two[0], two[1], high[0], high[1]]);
                self.repairs
                    .push(format!("{tag} at byte {at} has no VR: read as implicit VR"));
                Ok((dictionary_vr(tag), len))
            }
            None => cut(format!("{tag} at byte {at} has no VR")),
        }
    }

    fn tag(&mut self, end: u64, at: u64) -> Result<Tag, Halt> {
        let b = self.bytes::<4>(end, at)?;
        Ok(Tag(
            self.u16_from([b[0], b[1]]),
            self.u16_from([b[2], b[3]]),
        ))
    }

    fn u32(&mut self, end: u64, at: u64) -> Result<u32, Halt> {
        let b = self.bytes::<4>(end, at)?;
        Ok(if self.encoding.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn u16_from(&self, b: [u8; 2]) -> u16 {
        if self.encoding.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    /// The next `N` bytes of a header that starts at `at`, if they are
    /// within `end`.
    fn bytes<const N: usize>(&mut self, end: u64, at: u64) -> Result<[u8; N], Halt> {
        if end - self.pos < N as u64 {
            return cut(format!(
                "the header at byte {at} is cut short by the end at byte {end}"
            ));
        }
        let mut b = [0u8; N];
        self.input.read_exact(&mut b)?;
        self.pos += N as u64;
        Ok(b)
    }

    /// Copies (or skips) a value whose length was checked.
    fn value(&mut self, len: u32) -> Result<(), Halt> {
        match self.out.as_deref_mut() {
            Some(out) => {
                let copied = io::copy(&mut (&mut self.input).take(u64::from(len)), out)?;
                if copied != u64::from(len) {
                    return Err(Halt::Io(io::ErrorKind::UnexpectedEof.into()));
                }
            }
            None => self.input.seek_relative(i64::from(len))?,
        }
        self.pos += u64::from(len);
        Ok(())
    }

    /// Skips a value whose length was checked, leaving it out of the copy.
    fn skip(&mut self, len: u32) -> Result<(), Halt> {
        self.left_out = true;
        self.input.seek_relative(i64::from(len))?;
        self.pos += u64::from(len);
        Ok(())
    }

    /// Writes an element, item or delimiter header in the output's encoding.
    fn write_header(&mut self, tag: Tag, vr: VR, len: u32) {
        let Some(out) = self.out.as_deref_mut() else {
            return;
        };
        let big = self.encoding.big_endian;
        let u16b = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u32b = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        out.extend_from_slice(&u16b(tag.group()));
        out.extend_from_slice(&u16b(tag.element()));
        if !self.out_encoding.explicit_vr || tag.group() == 0xFFFE {
            out.extend_from_slice(&u32b(len));
            return;
        }
        // A VR read from the dictionary may be too short for the length.
        let vr = match u16::try_from(len) {
            Err(_) if !long_length(vr) => VR::UN,
            _ => vr,
        };
        out.extend_from_slice(vr.to_string().as_bytes());
        if long_length(vr) {
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&u32b(len));
        } else {
            out.extend_from_slice(&u16b(u16::try_from(len).unwrap_or(u16::MAX)));
        }
    }
}

/// Whether an explicit VR header has two reserved bytes and a 32-bit length.
fn long_length(vr: VR) -> bool {
    matches!(
        vr,
        VR::OB
            | VR::OD
            | VR::OF
            | VR::OL
            | VR::OV
            | VR::OW
            | VR::SQ
            | VR::SV
            | VR::UC
            | VR::UN
            | VR::UR
            | VR::UT
            | VR::UV
    )
}

/// The size of one value of a binary VR (1 for the others): a value
/// length must be a multiple of it.
fn value_size(vr: VR) -> u32 {
    match vr {
        VR::US | VR::SS | VR::OW => 2,
        VR::UL | VR::SL | VR::FL | VR::AT | VR::OF | VR::OL => 4,
        VR::FD | VR::OD | VR::SV | VR::UV | VR::OV => 8,
        _ => 1,
    }
}

/// The VR an implicit VR element has: the dictionary's, or UN.
fn dictionary_vr(tag: Tag) -> VR {
    StandardDataDictionary
        .by_tag(tag)
        .map_or(VR::UN, |entry| entry.vr().relaxed())
}
