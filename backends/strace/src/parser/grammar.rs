//! The argument and return-value grammar of strace lines, written with nom.
//!
//! Every parser here takes bytes and never panics. The hot ones (quoted strings, integers,
//! the argument skipper) are hand-written nom parsers that jump with `memchr`; the rest
//! are composed from nom combinators.

use memchr::{memchr2, memchr3, memmem, memrchr};
use nom::bytes::complete::{tag, take_while};
use nom::combinator::map;
use nom::error::{Error, ErrorKind};
use nom::sequence::preceded;
use nom::IResult;

/// Input to every parser.
pub(crate) type In<'a> = &'a [u8];

/// A nom result over bytes.
pub(crate) type Res<'a, T> = IResult<In<'a>, T>;

/// A recoverable parse failure at `input`.
pub(crate) fn fail<T>(input: In<'_>) -> Res<'_, T> {
    Err(nom::Err::Error(Error::new(input, ErrorKind::Verify)))
}

/// Characters of a C identifier, plus `?` which strace 4.x prints for unknown syscalls.
#[inline]
pub(crate) fn is_ident_byte(b: u8) -> bool {
    IDENT[usize::from(b)]
}

/// [`is_ident_byte`] as a table: it is asked for every byte of every name.
static IDENT: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'?';
        b += 1;
    }
    table
};

/// The length of the identifier at the start of `input`.
#[inline]
pub(crate) fn ident_len(input: In<'_>) -> usize {
    let mut n = 0;
    while n < input.len() && is_ident_byte(input[n]) {
        n += 1;
    }
    n
}

/// The length of the run of ASCII digits at the start of `input`.
#[inline]
pub(crate) fn digits_len(input: In<'_>) -> usize {
    let mut n = 0;
    while n < input.len() && input[n].is_ascii_digit() {
        n += 1;
    }
    n
}

/// Spaces (strace pads with spaces; tabs never appear, but are accepted).
pub(crate) fn ws(input: In<'_>) -> Res<'_, In<'_>> {
    take_while(|b| b == b' ' || b == b'\t')(input)
}

/// Skip leading spaces without nom's machinery (hot path).
#[inline]
pub(crate) fn skip_ws(input: In<'_>) -> In<'_> {
    let n = input
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &input[n..]
}

/// Drop trailing spaces.
#[inline]
pub(crate) fn trim_end(input: In<'_>) -> In<'_> {
    let n = input
        .iter()
        .rev()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &input[..input.len() - n]
}

/// The separator between two arguments: `, ` (with any spacing).
pub(crate) fn comma(input: In<'_>) -> Res<'_, ()> {
    let rest = skip_ws(input);
    match rest.first() {
        Some(b',') => Ok((skip_ws(&rest[1..]), ())),
        _ => fail(input),
    }
}

/// A C-quoted string as strace prints it: `"a\tb\377"`, optionally followed by `...`
/// when strace cut it at the `-s` limit. Returns the raw bytes and whether it was cut.
///
/// Escapes: `\n \t \r \v \f \a \b \e \" \\`, octal `\0`..`\377`, hex `\x..` (`-x`, `-xx`).
pub(crate) fn quoted(input: In<'_>) -> Res<'_, (Vec<u8>, bool)> {
    let Some(body) = input.strip_prefix(b"\"") else {
        return fail(input);
    };
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let Some(k) = memchr2(b'"', b'\\', &body[i..]) else {
            return fail(input);
        };
        out.extend_from_slice(&body[i..i + k]);
        i += k;
        if body[i] == b'"' {
            i += 1;
            break;
        }
        // A backslash: decode one escape.
        i += 1;
        let Some(&c) = body.get(i) else {
            return fail(input);
        };
        i += 1;
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'f' => out.push(0x0c),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'e' => out.push(0x1b),
            b'x' => {
                let mut v: u32 = 0;
                let mut n = 0;
                while n < 2 {
                    match body.get(i).and_then(|b| (*b as char).to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            i += 1;
                            n += 1;
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    out.push(b'x');
                } else {
                    out.push(v as u8);
                }
            }
            b'0'..=b'7' => {
                let mut v: u32 = u32::from(c - b'0');
                let mut n = 1;
                while n < 3 {
                    match body.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                            n += 1;
                        }
                        _ => break,
                    }
                }
                // `\777` cannot come from strace; keep the low byte rather than fail.
                out.push((v & 0xff) as u8);
            }
            other => out.push(other),
        }
    }
    let rest = &body[i..];
    match rest.strip_prefix(b"...") {
        Some(after) => Ok((after, (out, true))),
        None => Ok((rest, (out, false))),
    }
}

/// Skip a quoted string without decoding it; returns the rest after the closing quote
/// (and after a `...` truncation mark).
pub(crate) fn skip_quoted(input: In<'_>) -> Option<In<'_>> {
    let body = input.strip_prefix(b"\"")?;
    let mut i = 0;
    loop {
        let k = memchr2(b'"', b'\\', &body[i..])?;
        i += k;
        if body[i] == b'"' {
            let rest = &body[i + 1..];
            return Some(rest.strip_prefix(b"...").unwrap_or(rest));
        }
        i += 2;
        if i > body.len() {
            return None;
        }
    }
}

/// An unsigned number: hex `0x1f`, octal `0644`, or decimal.
#[inline]
fn unsigned(input: In<'_>) -> Res<'_, u64> {
    match unsigned_fast(input) {
        Some((v, n)) => Ok((&input[n..], v)),
        None => fail(input),
    }
}

/// [`unsigned`] without nom's result: the value and the bytes it took.
#[inline]
pub(crate) fn unsigned_fast(input: In<'_>) -> Option<(u64, usize)> {
    let first = *input.first()?;
    if !first.is_ascii_digit() {
        return None;
    }
    if first == b'0' && matches!(input.get(1), Some(b'x' | b'X')) {
        let mut v: u64 = 0;
        let mut i = 2;
        while i < input.len() {
            let d = match input[i] {
                c @ b'0'..=b'9' => c - b'0',
                c @ b'a'..=b'f' => c - b'a' + 10,
                c @ b'A'..=b'F' => c - b'A' + 10,
                _ => break,
            };
            v = (v << 4) | u64::from(d);
            i += 1;
        }
        if i == 2 || i > 18 {
            return None;
        }
        return Some((v, i));
    }
    let n = digits_len(input);
    let mut v: u64 = 0;
    if n > 1 && first == b'0' {
        for &b in &input[..n] {
            if b > b'7' {
                return None;
            }
            v = v.wrapping_mul(8).wrapping_add(u64::from(b - b'0'));
        }
    } else {
        for &b in &input[..n] {
            v = v.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
        }
    }
    Some((v, n))
}

/// A signed integer as strace prints numbers (decimal, `-1`, `0x..`, `0644`), without
/// any decoration.
pub(crate) fn integer(input: In<'_>) -> Res<'_, i64> {
    match input.first() {
        Some(b'-') => {
            let (rest, v) = unsigned(&input[1..])?;
            Ok((rest, (v as i64).wrapping_neg()))
        }
        _ => {
            let (rest, v) = unsigned(input)?;
            Ok((rest, v as i64))
        }
    }
}

/// The `<...>` decoration that `-y`, `-yy` and `-Y` put after fds and pids:
/// `</etc/passwd>`, `<pipe:[123]>`, `<TCP:[1.2.3.4:5->6.7.8.9:10]>`,
/// `</dev/null<char 1:3>>`, `<python3>`. Returns the rest after it.
pub(crate) fn skip_decoration(input: In<'_>) -> Option<In<'_>> {
    if input.first() != Some(&b'<') || input.get(1) == Some(&b'<') {
        return None;
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = true,
                b'<' => depth += 1,
                // `->` separates the ends of a socket inside `TCP:[a->b]`.
                b'>' if i > 0 && input[i - 1] == b'-' => {}
                b'>' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(&input[i + 1..]);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// A `/* ... */` comment, as `-X verbose` and `/* 35 vars */` print.
pub(crate) fn skip_comment(input: In<'_>) -> Option<In<'_>> {
    let body = input.strip_prefix(b"/*")?;
    let end = memmem::find(body, b"*/")?;
    Some(&body[end + 2..])
}

/// After a value: an optional decoration, then optional ` /* comment */`s.
fn value_suffix(input: In<'_>) -> In<'_> {
    let mut rest = skip_decoration(input).unwrap_or(input);
    loop {
        let after_ws = skip_ws(rest);
        match skip_comment(after_ws) {
            Some(after) => rest = after,
            None => return rest,
        }
    }
}

/// An integer argument, possibly decorated (`3</etc/passwd>`, `17375<sh>`) or commented
/// (`-100 /* AT_FDCWD */`).
pub(crate) fn int_arg(input: In<'_>) -> Res<'_, i64> {
    let (rest, v) = integer(input)?;
    if rest.first().is_some_and(|b| is_ident_byte(*b)) {
        return fail(input);
    }
    Ok((value_suffix(rest), v))
}

/// The special directory fd `AT_FDCWD` (symbolic, or -100 / 0xffffff9c raw).
pub(crate) const AT_FDCWD: i64 = -100;

/// A directory-fd argument: `AT_FDCWD`, `AT_FDCWD</tmp>`, `3</some/dir>`, `-100`,
/// `0xffffff9c`. Returns `None` for the current directory.
pub(crate) fn dirfd_arg(input: In<'_>) -> Res<'_, Option<i32>> {
    if let Some(rest) = input.strip_prefix(b"AT_FDCWD") {
        return Ok((value_suffix(rest), None));
    }
    let (rest, v) = int_arg(input)?;
    let fd = v as i32;
    if i64::from(fd) == AT_FDCWD || v == 0xffff_ff9c {
        Ok((rest, None))
    } else {
        Ok((rest, Some(fd)))
    }
}

/// An fd argument: `3`, `3</etc/passwd>`, `0x3` (raw).
pub(crate) fn fd_arg(input: In<'_>) -> Res<'_, i32> {
    let (rest, v) = int_arg(input)?;
    Ok((rest, v as i32))
}

/// A path argument: a quoted string (never cut by strace, but a `...` is tolerated).
pub(crate) fn path_arg(input: In<'_>) -> Res<'_, Vec<u8>> {
    map(quoted, |(bytes, _cut)| bytes)(input)
}

/// One term of a flag set: a symbol (`O_CREAT`) or a number (`0x80000`, `0644`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagTerm<'a> {
    /// A symbolic name.
    Sym(&'a [u8]),
    /// A number.
    Num(u64),
}

/// One term of a flag set at the start of `input`, and its length.
#[inline]
fn flag_term(input: In<'_>) -> Option<(FlagTerm<'_>, usize)> {
    if let Some((v, n)) = unsigned_fast(input) {
        return Some((FlagTerm::Num(v), n));
    }
    let n = ident_len(input);
    (n > 0).then(|| (FlagTerm::Sym(&input[..n]), n))
}

/// Fold over the terms of a flag set such as `O_WRONLY|O_CREAT|O_TRUNC`, `0x241`,
/// `0x80000 /* O_RDONLY|O_CLOEXEC */` or `O_RDONLY|0x4000000`. Returns the rest.
pub(crate) fn flags_arg<'a, T>(
    input: In<'a>,
    init: T,
    mut fold: impl FnMut(T, FlagTerm<'a>) -> T,
) -> Res<'a, T> {
    let Some((term, n)) = flag_term(input) else {
        return fail(input);
    };
    let mut acc = fold(init, term);
    let mut rest = &input[n..];
    while rest.first() == Some(&b'|') {
        let Some((term, n)) = flag_term(&rest[1..]) else {
            return fail(rest);
        };
        acc = fold(acc, term);
        rest = &rest[1 + n..];
    }
    Ok((value_suffix(rest), acc))
}

/// Whether a flag term asks for close-on-exec: any `*_CLOEXEC` symbol, or the O_CLOEXEC
/// bit (shared by SOCK_, EFD_, EPOLL_, SFD_, TFD_, IN_CLOEXEC on Linux) when numeric.
pub(crate) fn term_is_cloexec(term: FlagTerm<'_>, numeric_bit: u64) -> bool {
    match term {
        FlagTerm::Sym(s) => s.ends_with(b"_CLOEXEC"),
        FlagTerm::Num(n) => n & numeric_bit != 0,
    }
}

/// Whether a flag-set argument contains close-on-exec.
pub(crate) fn cloexec_arg(input: In<'_>, numeric_bit: u64) -> Res<'_, bool> {
    flags_arg(input, false, |acc, t| {
        acc || term_is_cloexec(t, numeric_bit)
    })
}

/// `O_CLOEXEC` on Linux (also `SOCK_CLOEXEC`, `EFD_CLOEXEC`, ...).
pub(crate) const O_CLOEXEC_BIT: u64 = 0o2_000_000;

/// An array of strings: `["a", "b"...]`, with `...` for elements strace left out.
/// Returns the strings and whether anything was cut.
pub(crate) fn string_array(input: In<'_>) -> Res<'_, (Vec<Vec<u8>>, bool)> {
    let Some(mut rest) = input.strip_prefix(b"[") else {
        return fail(input);
    };
    let mut items = Vec::new();
    let mut cut = false;
    loop {
        rest = skip_ws(rest);
        match rest.first() {
            Some(b']') => return Ok((&rest[1..], (items, cut))),
            Some(b'"') => {
                let (after, (s, was_cut)) = quoted(rest)?;
                cut |= was_cut;
                items.push(s);
                rest = after;
            }
            Some(b'.') if rest.starts_with(b"...") => {
                cut = true;
                rest = &rest[3..];
            }
            _ => return fail(rest),
        }
        rest = skip_ws(rest);
        match rest.first() {
            Some(b',') => rest = &rest[1..],
            Some(b']') => {}
            _ => return fail(rest),
        }
    }
}

/// What strace printed for an `envp`/`argv` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StringList {
    /// The strings, and whether some were cut.
    Strings(Vec<Vec<u8>>, bool),
    /// `NULL`.
    Null,
    /// Not shown: `0x7ffd.. /* 35 vars */`, `[/* 34 vars */]`, or a bare pointer.
    Hidden,
}

/// An argv/envp argument in any of its printed forms.
pub(crate) fn string_list(input: In<'_>) -> Res<'_, StringList> {
    if let Some(rest) = input.strip_prefix(b"NULL") {
        return Ok((value_suffix(rest), StringList::Null));
    }
    if let Some(inner) = input.strip_prefix(b"[") {
        // strace 4.x: `[/* 34 vars */]`.
        let inner = skip_ws(inner);
        if let Some(after) = skip_comment(inner) {
            if let Some(rest) = skip_ws(after).strip_prefix(b"]") {
                return Ok((rest, StringList::Hidden));
            }
        }
        let (rest, (items, cut)) = string_array(input)?;
        return Ok((rest, StringList::Strings(items, cut)));
    }
    let (rest, _) = integer(input)?;
    Ok((value_suffix(rest), StringList::Hidden))
}

/// An array of fds: `[3, 4]`, `[3<pipe:[123]>, 4<pipe:[123]>]`.
pub(crate) fn fd_pair(input: In<'_>) -> Res<'_, (i32, i32)> {
    let (rest, _) = tag(b"[")(input)?;
    let (rest, a) = fd_arg(skip_ws(rest))?;
    let (rest, _) = comma(rest)?;
    let (rest, b) = fd_arg(rest)?;
    let (rest, _) = preceded(ws, tag(b"]"))(rest)?;
    Ok((rest, (a, b)))
}

/// Skip one argument: everything up to the next top-level `,` (or the end), respecting
/// strings, brackets, comments and fd decorations. Returns (rest, the argument).
pub(crate) fn skip_arg(input: In<'_>) -> Res<'_, In<'_>> {
    let end =
        arg_end(input).ok_or_else(|| nom::Err::Error(Error::new(input, ErrorKind::Verify)))?;
    Ok((&input[end..], &input[..end]))
}

/// The length of the argument that starts `input`: up to a top-level `,` or the end.
/// `None` when a string, bracket or comment is left open.
pub(crate) fn arg_end(input: In<'_>) -> Option<usize> {
    let mut depth: usize = 0;
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'"' => {
                let rest = skip_quoted(&input[i..])?;
                i = input.len() - rest.len();
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                if depth == 0 {
                    return None;
                }
                depth -= 1;
            }
            b'/' if input.get(i + 1) == Some(&b'*') => {
                let rest = skip_comment(&input[i..])?;
                i = input.len() - rest.len();
                continue;
            }
            b'<' if i > 0 && is_ident_byte(input[i - 1]) && input.get(i + 1) != Some(&b'<') => {
                if let Some(rest) = skip_decoration(&input[i..]) {
                    i = input.len() - rest.len();
                    continue;
                }
            }
            b'<' if input.get(i + 1) == Some(&b'<') => i += 1,
            b',' if depth == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    if depth == 0 {
        Some(input.len())
    } else {
        None
    }
}

/// Split an argument list into its top-level arguments (trimmed). `None` when the list
/// is not balanced.
#[cfg(test)]
pub(crate) fn split_args(mut input: In<'_>) -> Option<Vec<In<'_>>> {
    let mut out = Vec::new();
    input = skip_ws(input);
    if input.is_empty() {
        return Some(out);
    }
    loop {
        let end = arg_end(input)?;
        out.push(trim_end(&input[..end]));
        if end == input.len() {
            return Some(out);
        }
        input = skip_ws(&input[end + 1..]);
    }
}

/// How far the argument text of a syscall line is well-formed: the length of its longest
/// prefix that strace could have printed. Used to find where something foreign (the
/// traced program's output, strace's own `Process N attached`) was printed into the
/// middle of a line. Returns `input.len()` when all of it is well-formed.
pub(crate) fn well_formed_prefix(input: In<'_>) -> usize {
    if let Some(at) = memmem::find(input, b"strace: Process ") {
        return at.min(well_formed_prefix(&input[..at]));
    }
    let mut i = 0;
    // The class of the last token: 0 none/operator, 1 number, 2 identifier, 3 closed
    // (string, bracket group, decoration).
    let mut last = 0u8;
    let mut stack: Vec<u8> = Vec::new();
    while i < input.len() {
        let b = input[i];
        match b {
            b'"' => {
                if last != 0 {
                    return i;
                }
                match skip_quoted(&input[i..]) {
                    Some(rest) => i = input.len() - rest.len(),
                    None => return i,
                }
                last = 3;
                continue;
            }
            b'0'..=b'9' => {
                if last == 3 || last == 1 {
                    return i;
                }
                if last == 2 {
                    // Part of an identifier such as `RT_1`.
                    i += 1;
                    continue;
                }
                let n = input[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_hexdigit() || **c == b'x' || **c == b'X')
                    .count();
                i += n;
                last = 1;
                continue;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'?' => {
                if last == 1 || last == 3 {
                    return i;
                }
                last = 2;
            }
            b'(' | b'[' | b'{' => {
                if last == 1 || last == 3 {
                    return i;
                }
                stack.push(b);
                last = 0;
            }
            b')' | b']' | b'}' => {
                let open = match b {
                    b')' => b'(',
                    b']' => b'[',
                    _ => b'{',
                };
                if stack.pop() != Some(open) {
                    return i;
                }
                last = 3;
            }
            b'<' if last != 0 && input.get(i + 1) != Some(&b'<') => {
                match skip_decoration(&input[i..]) {
                    Some(rest) => {
                        i = input.len() - rest.len();
                        last = 3;
                        continue;
                    }
                    None => return i,
                }
            }
            b'/' if input.get(i + 1) == Some(&b'*') => match skip_comment(&input[i..]) {
                Some(rest) => {
                    i = input.len() - rest.len();
                    continue;
                }
                None => return i,
            },
            b' ' => {
                // Two values side by side are only allowed inside `[...]` (signal sets)
                // or around an operator; a space then a new word at depth 0 is foreign.
                let next = skip_ws(&input[i..]);
                let at = input.len() - next.len();
                if stack.is_empty() && last != 0 {
                    match next.first() {
                        None => return input.len(),
                        Some(
                            b',' | b')' | b']' | b'}' | b'|' | b'=' | b'-' | b'*' | b'+' | b'<'
                            | b'/',
                        ) => {}
                        Some(_) => return i,
                    }
                }
                i = at;
                continue;
            }
            b'.' if input[i..].starts_with(b"...") => {
                i += 3;
                last = 3;
                continue;
            }
            b',' | b'|' | b'=' | b'-' | b'>' | b'*' | b'+' | b'&' | b'~' | b'@' | b'<' | b':'
            | b'.' | b'^' | b'!' | b'%' | b'/' => {
                last = 0;
            }
            _ => return i,
        }
        i += 1;
    }
    input.len()
}

/// The result of a syscall, as printed after ` = `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetValue<'a> {
    /// A value: a number, a pointer, an fd.
    Value(i64),
    /// A failure with its symbolic errno (`ENOENT`, `ERESTARTSYS`).
    Error(&'a [u8]),
    /// `?`: strace did not see the result.
    Unknown,
}

/// The text after `= `: the value, an errno with its message, annotations such as
/// `(flags O_RDONLY)` or `(INJECTED)`, and a `-T` duration `<0.000017>`. The whole input
/// must be consumed.
pub(crate) fn return_section(input: In<'_>) -> Option<RetValue<'_>> {
    let input = skip_ws(input);
    let (mut rest, value) = match input.first()? {
        b'?' => (&input[1..], RetValue::Unknown),
        _ => {
            let (rest, v) = integer(input).ok()?;
            let rest = skip_decoration(rest).unwrap_or(rest);
            (rest, RetValue::Value(v))
        }
    };
    let mut result = value;
    loop {
        let trimmed = skip_ws(rest);
        if trimmed.is_empty() {
            return Some(result);
        }
        if trimmed.len() == rest.len() {
            // Something stuck to the value without a space.
            return None;
        }
        rest = trimmed;
        match rest[0] {
            b'(' => {
                let after = skip_group(rest)?;
                // `-1 (errno 512)`: an errno strace has no name for.
                if let (RetValue::Value(-1), Some(inner)) = (result, rest.strip_prefix(b"(errno "))
                {
                    let digits = digits_len(inner);
                    if digits > 0 && inner.get(digits) == Some(&b')') {
                        result = RetValue::Error(&rest[1..7 + digits]);
                    }
                }
                rest = after;
            }
            b'<' => {
                let end = memchr::memchr(b'>', rest)?;
                rest = &rest[end + 1..];
            }
            b'A'..=b'Z' | b'0'..=b'9' => {
                let n = ident_len(rest);
                let word = &rest[..n];
                match result {
                    RetValue::Value(-1) | RetValue::Unknown => result = RetValue::Error(word),
                    _ => return None,
                }
                rest = &rest[n..];
            }
            _ => return None,
        }
    }
}

/// Skip a balanced `( ... )` group (strings inside respected). Returns the rest.
fn skip_group(input: In<'_>) -> Option<In<'_>> {
    let mut depth = 0usize;
    let mut i = 0;
    // Jump from one interesting byte to the next: annotations are mostly plain words.
    while let Some(k) = memchr3(b'"', b'(', b')', &input[i..]) {
        i += k;
        match input[i] {
            b'"' => {
                let rest = skip_quoted(&input[i..])?;
                i = input.len() - rest.len();
                continue;
            }
            b'(' => depth += 1,
            _ => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(&input[i + 1..]);
                }
            }
        }
        i += 1;
    }
    None
}

/// Find where the arguments of a complete syscall line end and its result begins:
/// `args) = result`, with any padding before `=`. Returns (args, result). Searches from
/// the end, so a `) = ` inside a string argument is never mistaken for the end.
pub(crate) fn split_return(rest: In<'_>) -> Option<(In<'_>, RetValue<'_>)> {
    let mut end = rest.len();
    // The result is at the end, so a plain backwards scan beats a vectorised search.
    while let Some(eq) = rest[..end].iter().rposition(|b| *b == b'=') {
        end = eq;
        if rest.get(eq + 1) != Some(&b' ') {
            continue;
        }
        let before = trim_end(&rest[..eq]);
        let Some(args) = before.strip_suffix(b")") else {
            continue;
        };
        if let Some(ret) = return_section(&rest[eq + 1..]) {
            return Some((args, ret));
        }
    }
    None
}

/// Where in `args` the `flags=` field of clone/clone3 starts, if printed.
pub(crate) fn find_field<'a>(args: In<'a>, field: &[u8]) -> Option<In<'a>> {
    let mut from = 0;
    while let Some(at) = memmem::find(&args[from..], field) {
        let pos = from + at;
        if pos == 0 || !is_ident_byte(args[pos - 1]) {
            return Some(&args[pos + field.len()..]);
        }
        from = pos + 1;
    }
    None
}

/// Timestamps: `1700000000.123456` (seconds and a fraction of any precision).
/// Returns (seconds, nanoseconds, rest).
pub(crate) fn seconds_fraction(input: In<'_>) -> Option<(u64, u64, In<'_>)> {
    let n = digits_len(input);
    if n == 0 || n > 19 {
        return None;
    }
    let secs = digits_value(&input[..n]);
    let rest = &input[n..];
    let Some(frac) = rest.strip_prefix(b".") else {
        return Some((secs, 0, rest));
    };
    let m = digits_len(frac);
    if m == 0 {
        return None;
    }
    let mut ns = digits_value(&frac[..m.min(9)]);
    for _ in m.min(9)..9 {
        ns *= 10;
    }
    Some((secs, ns, &frac[m..]))
}

/// The value of ASCII digits (at most 19 of them, so no overflow).
#[inline]
pub(crate) fn digits_value(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |v, b| {
        v.wrapping_mul(10).wrapping_add(u64::from(b - b'0'))
    })
}

/// `<... NAME resumed>`: returns (NAME, the rest of the line after `>`).
pub(crate) fn resumed_head(input: In<'_>) -> Option<(In<'_>, In<'_>)> {
    let rest = input.strip_prefix(b"<... ")?;
    let n = ident_len(rest);
    if n == 0 {
        return None;
    }
    let after = rest[n..].strip_prefix(b" resumed>")?;
    Some((&rest[..n], after))
}

/// How a line that opened a syscall but did not finish it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenEnd {
    /// ` <unfinished ...>`: the rest follows in a `<... NAME resumed>` line.
    Unfinished,
    /// ` <pid changed to N ...>` (strace 6): an execve by a thread; it resumes in the
    /// leader, announced by `+++ superseded by execve in pid N +++`.
    PidChanged,
    /// ` <detached ...>`: strace let go of the task; the result is never known.
    Detached,
}

/// Strip an unfinished marker from the end of a line's argument text.
pub(crate) fn strip_unfinished(rest: In<'_>) -> Option<(In<'_>, OpenEnd)> {
    let trimmed = trim_end(rest);
    if trimmed.last() != Some(&b'>') {
        return None;
    }
    if let Some(args) = trimmed.strip_suffix(b"<unfinished ...>") {
        return Some((trim_end(args), OpenEnd::Unfinished));
    }
    if let Some(args) = trimmed.strip_suffix(b"<detached ...>") {
        return Some((trim_end(args), OpenEnd::Detached));
    }
    if trimmed.ends_with(b" ...>") {
        let open = memrchr(b'<', trimmed)?;
        if trimmed[open..].starts_with(b"<pid changed to ") {
            return Some((trim_end(&trimmed[..open]), OpenEnd::PidChanged));
        }
    }
    None
}

/// The `= ? <unavailable>` ending of strace 4.x when it could not read a task's
/// registers; the argument text before it may be cut anywhere.
pub(crate) fn strip_unavailable(rest: In<'_>) -> Option<In<'_>> {
    let trimmed = trim_end(rest);
    let before = trimmed.strip_suffix(b"<unavailable>")?;
    let before = trim_end(before).strip_suffix(b"?")?;
    let before = trim_end(before).strip_suffix(b"=")?;
    let before = trim_end(before);
    Some(before.strip_suffix(b")").unwrap_or(before))
}

/// Recognise an `-i` instruction pointer `[00007f1234567890]` or a `-n` syscall number
/// `[ 257]` before the syscall name; returns the rest.
pub(crate) fn skip_bracket_column(input: In<'_>) -> Option<In<'_>> {
    let body = input.strip_prefix(b"[")?;
    let end = memchr3(b']', b'(', b'"', body)?;
    if body[end] != b']' || end == 0 {
        return None;
    }
    if !body[..end]
        .iter()
        .all(|b| b.is_ascii_hexdigit() || *b == b' ' || *b == b'?' || *b == b'x')
    {
        return None;
    }
    Some(skip_ws(&body[end + 1..]))
}

/// `flags=` value of clone/clone3 as bits (x86_64 numbering for symbols too).
pub(crate) fn clone_flags(input: In<'_>) -> Option<u64> {
    flags_arg(input, 0u64, |acc, term| {
        acc | match term {
            FlagTerm::Num(n) => n,
            FlagTerm::Sym(s) => match s {
                b"CLONE_VM" => 0x100,
                b"CLONE_FS" => 0x200,
                b"CLONE_FILES" => 0x400,
                b"CLONE_SIGHAND" => 0x800,
                b"CLONE_VFORK" => 0x4000,
                b"CLONE_THREAD" => 0x10000,
                _ => 0,
            },
        }
    })
    .ok()
    .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_decodes_escapes() {
        let (rest, (s, cut)) = quoted(br#""a\tb\n\"q\\\377\0\x41z"..., 5"#).unwrap();
        assert_eq!(s, b"a\tb\n\"q\\\xff\0Az");
        assert!(cut);
        assert_eq!(rest, b", 5");
        let (_, (s, cut)) = quoted(br#""\x2f\x65tc""#).unwrap();
        assert_eq!(s, b"/etc");
        assert!(!cut);
        assert!(quoted(br#""open"#).is_err());
        assert!(quoted(br#""open\"#).is_err());
    }

    #[test]
    fn integers_and_decorations() {
        assert_eq!(int_arg(b"3</etc/passwd>, x").unwrap(), (&b", x"[..], 3));
        assert_eq!(int_arg(b"0x1f").unwrap().1, 31);
        assert_eq!(int_arg(b"0644").unwrap().1, 0o644);
        assert_eq!(int_arg(b"-1 /* x */,").unwrap(), (&b","[..], -1));
        assert_eq!(int_arg(b"4</dev/null<char 1:3>>)").unwrap(), (&b")"[..], 4));
        assert_eq!(
            int_arg(b"32<TCP:[172.17.0.2:33462->10.7.7.48:5432]>, 1").unwrap(),
            (&b", 1"[..], 32)
        );
        assert_eq!(dirfd_arg(b"AT_FDCWD</tmp/sc>, ").unwrap().1, None);
        assert_eq!(dirfd_arg(b"-100 /* AT_FDCWD */").unwrap().1, None);
        assert_eq!(dirfd_arg(b"0xffffff9c").unwrap().1, None);
        assert_eq!(dirfd_arg(b"3</d>").unwrap().1, Some(3));
        assert!(int_arg(b"14Hello").is_err());
    }

    #[test]
    fn return_sections() {
        assert_eq!(return_section(b" 3"), Some(RetValue::Value(3)));
        assert_eq!(
            return_section(b" 0x7f58d095d000"),
            Some(RetValue::Value(0x7f58d095d000))
        );
        assert_eq!(
            return_section(b" -1 ENOENT (No such file or directory)"),
            Some(RetValue::Error(b"ENOENT"))
        );
        assert_eq!(
            return_section(b" -1 ENOSYS (Function not implemented) (INJECTED)"),
            Some(RetValue::Error(b"ENOSYS"))
        );
        assert_eq!(
            return_section(b" ? ERESTARTSYS (To be restarted if SA_RESTART is set)"),
            Some(RetValue::Error(b"ERESTARTSYS"))
        );
        assert_eq!(return_section(b" ?"), Some(RetValue::Unknown));
        assert_eq!(return_section(b" ? <unavailable>"), Some(RetValue::Unknown));
        assert_eq!(
            return_section(b" 3</etc/ld.so.cache>"),
            Some(RetValue::Value(3))
        );
        assert_eq!(
            return_section(b" 1 (in [32]) <0.000017>"),
            Some(RetValue::Value(1))
        );
        assert_eq!(
            return_section(b" 0x8000 (flags O_RDONLY|O_LARGEFILE)"),
            Some(RetValue::Value(0x8000))
        );
        assert_eq!(
            return_section(b" -1 (errno 18446744073709551359)"),
            Some(RetValue::Error(b"errno 18446744073709551359"))
        );
        assert_eq!(return_section(b" 3 junk"), None);
        assert_eq!(return_section(b" 3x"), None);
    }

    #[test]
    fn split_return_finds_the_last_separator() {
        let (args, ret) = split_return(br#"1, "a) = 2", 6) = 6"#).unwrap();
        assert_eq!(args, br#"1, "a) = 2", 6"#);
        assert_eq!(ret, RetValue::Value(6));
        let (args, ret) = split_return(b"3)        = 0").unwrap();
        assert_eq!(args, b"3");
        assert_eq!(ret, RetValue::Value(0));
        let (args, _) = split_return(b" <unavailable>)= ? <unavailable>").unwrap();
        assert_eq!(args, b" <unavailable>");
        assert!(split_return(b"1, \"Hello\", 14Hello").is_none());
    }

    #[test]
    fn args_split_at_top_level_commas() {
        let args =
            split_args(br#"AT_FDCWD</a,b>, "x,y", {a=1, b=[1, 2]}, 3</p(>, f(1, 2) /* c, d */"#)
                .unwrap();
        assert_eq!(args.len(), 5, "{args:?}");
        assert_eq!(args[2], b"{a=1, b=[1, 2]}");
        assert!(split_args(b"[1, 2").is_none());
    }

    #[test]
    fn arrays_and_flags() {
        let (_, (items, cut)) = string_array(br#"["sh", "-c", "x"...]"#).unwrap();
        assert_eq!(items, vec![b"sh".to_vec(), b"-c".to_vec(), b"x".to_vec()]);
        assert!(cut);
        let (_, (items, cut)) = string_array(br#"["a", ...]"#).unwrap();
        assert_eq!(items.len(), 1);
        assert!(cut);
        assert_eq!(
            string_list(b"[/* 34 vars */]").unwrap().1,
            StringList::Hidden
        );
        assert_eq!(
            string_list(b"0x7ffc /* 35 vars */").unwrap().1,
            StringList::Hidden
        );
        assert_eq!(string_list(b"NULL").unwrap().1, StringList::Null);
        assert_eq!(fd_pair(b"[3<pipe:[1]>, 4<pipe:[1]>], 0").unwrap().1, (3, 4));
        assert!(
            cloexec_arg(b"SOCK_STREAM|SOCK_CLOEXEC", O_CLOEXEC_BIT)
                .unwrap()
                .1
        );
        assert!(cloexec_arg(b"0x80001", O_CLOEXEC_BIT).unwrap().1);
        assert!(!cloexec_arg(b"0", O_CLOEXEC_BIT).unwrap().1);
        assert_eq!(
            clone_flags(b"CLONE_VM|CLONE_THREAD|SIGCHLD, x"),
            Some(0x10100)
        );
    }

    #[test]
    fn well_formed_prefix_finds_foreign_text() {
        let line = br#"1, "Hello, World!\n", 14Hello, World!"#;
        assert_eq!(
            &line[..well_formed_prefix(line)],
            br#"1, "Hello, World!\n", 14"#
        );
        let line = b"strace: Process 15236 attached";
        assert_eq!(well_formed_prefix(line), 0);
        let line = br#"{flags=CLONE_VM, tls=0x7f}strace: Process 1 attached"#;
        assert_eq!(
            &line[..well_formed_prefix(line)],
            br#"{flags=CLONE_VM, tls=0x7f}"#
        );
        let ok = br#"SIG_BLOCK, ~[RTMIN RT_1], [], 8"#;
        assert_eq!(well_formed_prefix(ok), ok.len());
    }
}
