//! The Porter stemmer as NLTK 3.10 implements it in its default `NLTK_EXTENSIONS` mode, which is what
//! rouge-score uses (`nltk.stem.porter.PorterStemmer()`). Ported step for step, NLTK's departures from the
//! 1980 paper included (irregular forms, `ies`/`ied` on four-letter words, `alli`, `fulli`, `logi`, the
//! two-letter `cvc` case). Input is one lower-case ASCII token, as rouge-score's tokenizer produces.

/// A condition on the stem left after removing a suffix.
type Cond<'a> = &'a dyn Fn(&str) -> bool;

const IRREGULAR: [(&str, &str); 16] = [
    ("sky", "sky"),
    ("skies", "sky"),
    ("dying", "die"),
    ("lying", "lie"),
    ("tying", "tie"),
    ("news", "news"),
    ("innings", "inning"),
    ("inning", "inning"),
    ("outings", "outing"),
    ("outing", "outing"),
    ("cannings", "canning"),
    ("canning", "canning"),
    ("howe", "howe"),
    ("proceed", "proceed"),
    ("exceed", "exceed"),
    ("succeed", "succeed"),
];

fn is_vowel(c: u8) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u')
}

fn is_consonant(w: &[u8], mut i: usize) -> bool {
    if is_vowel(w[i]) {
        return false;
    }
    if w[i] == b'y' {
        let mut negate = false;
        while i > 0 && w[i] == b'y' {
            negate = !negate;
            i -= 1;
        }
        return is_vowel(w[i]) == negate;
    }
    true
}

fn consonant_flags(w: &[u8]) -> Vec<bool> {
    let mut flags: Vec<bool> = Vec::with_capacity(w.len());
    for (i, &c) in w.iter().enumerate() {
        let f = if is_vowel(c) {
            false
        } else if c == b'y' {
            i == 0 || !flags[i - 1]
        } else {
            true
        };
        flags.push(f);
    }
    flags
}

/// m in [C](VC)^m[V]: the number of vowel-consonant transitions.
fn measure(stem: &str) -> usize {
    let f = consonant_flags(stem.as_bytes());
    f.windows(2).filter(|p| !p[0] && p[1]).count()
}

fn positive_measure(stem: &str) -> bool {
    measure(stem) > 0
}

fn contains_vowel(stem: &str) -> bool {
    consonant_flags(stem.as_bytes()).iter().any(|&c| !c)
}

fn ends_double_consonant(w: &str) -> bool {
    let b = w.as_bytes();
    b.len() >= 2 && b[b.len() - 1] == b[b.len() - 2] && is_consonant(b, b.len() - 1)
}

fn ends_cvc(w: &str) -> bool {
    let b = w.as_bytes();
    let n = b.len();
    (n >= 3
        && is_consonant(b, n - 3)
        && !is_consonant(b, n - 2)
        && is_consonant(b, n - 1)
        && !matches!(b[n - 1], b'w' | b'x' | b'y'))
        || (n == 2 && !is_consonant(b, 0) && is_consonant(b, 1))
}

/// NLTK's `_apply_rule_list`: the first rule whose suffix matches decides, whether or not its condition
/// holds. The suffix `*d` means "ends in a double consonant".
fn apply_rules(word: &str, rules: &[(&str, &str, Option<Cond<'_>>)]) -> String {
    for &(suffix, replacement, cond) in rules {
        if suffix == "*d" && ends_double_consonant(word) {
            let stem = &word[..word.len() - 2];
            return if cond.is_none_or(|c| c(stem)) { format!("{stem}{replacement}") } else { word.to_owned() };
        }
        if suffix != "*d"
            && let Some(stem) = word.strip_suffix(suffix)
        {
            return if cond.is_none_or(|c| c(stem)) { format!("{stem}{replacement}") } else { word.to_owned() };
        }
    }
    word.to_owned()
}

fn step1a(word: &str) -> String {
    if word.ends_with("ies") && word.len() == 4 {
        return format!("{}ie", &word[..1]);
    }
    apply_rules(word, &[("sses", "ss", None), ("ies", "i", None), ("ss", "ss", None), ("s", "", None)])
}

fn step1b(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ied") {
        return if word.len() == 4 { format!("{stem}ie") } else { format!("{stem}i") };
    }
    if let Some(stem) = word.strip_suffix("eed") {
        return if measure(stem) > 0 { format!("{stem}ee") } else { word.to_owned() };
    }
    let Some(stem) = ["ed", "ing"].iter().find_map(|s| word.strip_suffix(s).filter(|st| contains_vowel(st))) else {
        return word.to_owned();
    };
    let last = stem.as_bytes().last().copied().map(char::from).unwrap_or_default();
    let last_str = last.to_string();
    let not_lsz = move |_: &str| !matches!(last, 'l' | 's' | 'z');
    let cvc_one = |s: &str| measure(s) == 1 && ends_cvc(s);
    apply_rules(
        stem,
        &[
            ("at", "ate", None),
            ("bl", "ble", None),
            ("iz", "ize", None),
            ("*d", &last_str, Some(&not_lsz)),
            ("", "e", Some(&cvc_one)),
        ],
    )
}

fn step1c(word: &str) -> String {
    let cond = |stem: &str| stem.len() > 1 && is_consonant(stem.as_bytes(), stem.len() - 1);
    apply_rules(word, &[("y", "i", Some(&cond))])
}

fn step2(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("alli")
        && positive_measure(stem)
    {
        return step2(&format!("{stem}al"));
    }
    let m: Cond<'_> = &positive_measure;
    let logi = |_: &str| positive_measure(&word[..word.len() - 3]);
    apply_rules(
        word,
        &[
            ("ational", "ate", Some(m)),
            ("tional", "tion", Some(m)),
            ("enci", "ence", Some(m)),
            ("anci", "ance", Some(m)),
            ("izer", "ize", Some(m)),
            ("bli", "ble", Some(m)),
            ("alli", "al", Some(m)),
            ("entli", "ent", Some(m)),
            ("eli", "e", Some(m)),
            ("ousli", "ous", Some(m)),
            ("ization", "ize", Some(m)),
            ("ation", "ate", Some(m)),
            ("ator", "ate", Some(m)),
            ("alism", "al", Some(m)),
            ("iveness", "ive", Some(m)),
            ("fulness", "ful", Some(m)),
            ("ousness", "ous", Some(m)),
            ("aliti", "al", Some(m)),
            ("iviti", "ive", Some(m)),
            ("biliti", "ble", Some(m)),
            ("fulli", "ful", Some(m)),
            ("logi", "log", Some(&logi)),
        ],
    )
}

fn step3(word: &str) -> String {
    let m: Cond<'_> = &positive_measure;
    apply_rules(
        word,
        &[
            ("icate", "ic", Some(m)),
            ("ative", "", Some(m)),
            ("alize", "al", Some(m)),
            ("iciti", "ic", Some(m)),
            ("ical", "ic", Some(m)),
            ("ful", "", Some(m)),
            ("ness", "", Some(m)),
        ],
    )
}

fn step4(word: &str) -> String {
    let gt1 = |s: &str| measure(s) > 1;
    let ion = |s: &str| measure(s) > 1 && matches!(s.as_bytes().last(), Some(b's' | b't'));
    let m: Cond<'_> = &gt1;
    apply_rules(
        word,
        &[
            ("al", "", Some(m)),
            ("ance", "", Some(m)),
            ("ence", "", Some(m)),
            ("er", "", Some(m)),
            ("ic", "", Some(m)),
            ("able", "", Some(m)),
            ("ible", "", Some(m)),
            ("ant", "", Some(m)),
            ("ement", "", Some(m)),
            ("ment", "", Some(m)),
            ("ent", "", Some(m)),
            ("ion", "", Some(&ion)),
            ("ou", "", Some(m)),
            ("ism", "", Some(m)),
            ("ate", "", Some(m)),
            ("iti", "", Some(m)),
            ("ous", "", Some(m)),
            ("ive", "", Some(m)),
            ("ize", "", Some(m)),
        ],
    )
}

fn step5a(word: &str) -> String {
    if let Some(stem) = word.strip_suffix('e') {
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            return stem.to_owned();
        }
    }
    word.to_owned()
}

fn step5b(word: &str) -> String {
    let cond = |_: &str| measure(&word[..word.len() - 1]) > 1;
    apply_rules(word, &[("ll", "l", Some(&cond))])
}

/// Stems one lower-case ASCII word.
pub fn stem(word: &str) -> String {
    if let Some(&(_, s)) = IRREGULAR.iter().find(|(w, _)| *w == word) {
        return s.to_owned();
    }
    if word.len() <= 2 {
        return word.to_owned();
    }
    let w = step1a(word);
    let w = step1b(&w);
    let w = step1c(&w);
    let w = step2(&w);
    let w = step3(&w);
    let w = step4(&w);
    let w = step5a(&w);
    step5b(&w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_examples() {
        for (w, s) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("ties", "tie"),
            ("cats", "cat"),
            ("feed", "feed"),
            ("agreed", "agre"),
            ("plastered", "plaster"),
            ("motoring", "motor"),
            ("hopping", "hop"),
            ("filing", "file"),
            ("happy", "happi"),
            ("relational", "relat"),
            ("generalization", "gener"),
            ("dying", "die"),
            ("controlling", "control"),
            ("analogies", "analog"),
        ] {
            assert_eq!(stem(w), s, "{w}");
        }
    }
}
