//! Deterministic generator of large, realistic (and realistically messy)
//! contact CSV files, for benchmarks and tests.
//!
//! ```text
//! cargo run --release --example gen_contacts -- --rows 5000000 --seed 1 --out /tmp/c.csv
//! cargo run --release --example gen_contacts -- --messy --rows 1200 --seed 7 --out data/sample.csv
//! ```
//!
//! The same arguments always give a byte-identical file: every random choice
//! comes from a self-contained SplitMix64 generator (no dependency on a
//! crate's RNG algorithm), people are derived from their id by hashing, and no
//! hash-map iteration order reaches the output. Without `--out` the file is
//! written to stdout. A summary of what was generated, including the exact
//! counts below, is printed to stderr as `key=value` lines.
//!
//! # Shape
//!
//! Header: `first_name,last_name,email,company,website,linkedin_url,title,phone,city,country`,
//! then `--rows` data records (~155 bytes each on average), LF line endings, no BOM.
//! Fields are quoted (RFC 4180) only when they contain `,`, `"`, CR or LF.
//!
//! A *person* is an id `0, 1, 2, …`; their first/last name and employer are a
//! keyed bijection of the id onto the product space first names × last names ×
//! companies, so no two people share (first, last, employer) and therefore no
//! two people share an email. Everything else about a person (city, phone,
//! LinkedIn slug, title, whether they use a free-mail address) is a hash of
//! the id. Emails are ASCII (`José` → `jose`, `Łukasz` → `lukasz`,
//! `田中` → `tanaka`), built with the employer's address pattern
//! (`first.last`, `first_last`, `last.first`, `first-last`) at the employer's
//! domain, or `first.last<N>@gmail.com|yahoo.com|outlook.com|hotmail.com`
//! for about 12% of people.
//!
//! # Mess, with default rates (fractions of all data rows)
//!
//! | what | flag | default |
//! |---|---|---|
//! | duplicate person: an earlier person with a valid email appears again | `--dup-rate` | 0.10 |
//! | empty email (new person) | `--empty-email-rate` | 0.03 |
//! | invalid email (new person) | `--invalid-email-rate` | 0.01 |
//! | company name with a comma (`"Acme Labs, Inc."`, quoted) — per company | `--comma-company-rate` | 0.03 |
//! | title with an embedded newline (quoted) | `--newline-title-rate` | 0.002 |
//!
//! Some titles also contain a comma (`"Director, Sales"`), about 5% of rows.
//! Phones are empty in ~15% of rows and LinkedIn URLs in ~50% (per row: a
//! duplicate may have one where the original had none); ~11% of people have
//! no website. URLs come with or without scheme and `www.`.
//!
//! A duplicate row repeats an earlier person (drawn uniformly from the
//! earlier rows of new people with a valid email): same names, employer,
//! city, phone number and email address. Its email is written as one of:
//! exactly the same (50%), different case (22%: `Jose.Garcia@Acme.com`, or
//! all upper case), leading and/or trailing spaces (17%), or case and spaces
//! (11%). For `gmail.com` people a share of duplicates (10%; 50% with
//! `--messy`) are Gmail variants instead, the rest splitting as above: dots
//! removed (`josegarcia12@gmail.com`), a `+tag` (`jose.garcia12+news@gmail.com`)
//! or both. Case and whitespace variants are the same address after
//! trim + lowercase; Gmail variants are not (they need Gmail canonicalisation).
//! A duplicate's title (20%, plus the comma/newline rates), and whether its
//! phone and LinkedIn URL are present, may differ from the original's.
//!
//! Invalid emails fail any reasonable validity rule, in particular
//! `^[^@\s]+@[^@\s]+\.[^@\s]+$`: missing `@`, double `@@`, two `@`, a space
//! inside, or a domain without a dot — one of the five, evenly.
//! Every other email, once trimmed, matches that rule and the stricter RFC 5322 dot-atom.
//!
//! The summary line `expected_valid_distinct` is the number of distinct
//! valid emails after trim + lowercase: the row count of "normalise, drop
//! invalid, dedupe on email" (what `benches/compare.sh` measures) for a
//! file without `--messy`. `distinct_gmail_variants` of them are Gmail
//! variants: a dedupe that canonicalises Gmail addresses keeps that many
//! fewer rows.
//!
//! # `--messy`: the hard cases, for the small committed sample
//!
//! On top of the above (whose rates stay as given), `--messy` writes:
//! - a UTF-8 BOM before the header, and CRLF line endings on every record
//!   (embedded newlines inside quoted titles stay a bare LF);
//! - whitespace variants of duplicates that use a tab (30% of pads) as well as spaces;
//! - Unicode names in decomposed form (NFD, e.g. `Jose\u{301}`) in half of
//!   the rows whose name has a precomposed character (a duplicate can be NFC
//!   where the first occurrence was NFD, or the reverse);
//! - higher quoting rates: company commas 6%, title newlines 2%;
//! - ragged rows, always new people: 0.8% with 11 fields (an extra trailing
//!   `note: imported twice` field) and 0.8% with 8 fields (city and country
//!   missing), each with a valid email;
//! - rows with invalid UTF-8, always new people: 0.4%, whose `first_name` is
//!   written in Latin-1 (e.g. `Jos\xE9`); the rest of the row, including a
//!   valid email, is fine;
//! - rows with nothing to identify the person, always new: 1%, with empty
//!   first name, last name, email and LinkedIn URL (company and the rest set);
//! - as the very last record, an unterminated quote: a row (new person, valid
//!   email) whose title field opens with `"never closed...` and runs to the
//!   end of the file (`"never closed... <title>,+1 555-0100,Nowhere,Atlantis\r\n`, EOF).
//!
//! Rows of these special kinds are never picked as the original of a later
//! duplicate, and duplicates are never special. `--rows` counts every data
//! record, including the unterminated last one.
//!
//! ## `data/sample.csv` = `--messy --rows 1200 --seed 7`
//!
//! Exact counts (from the generator's summary, checked by reading the file
//! back with an independent CSV reader):
//! - 1,200 data records, 1,233 line feeds (BOM + header + CRLF; 32
//!   titles hold a bare LF), 1,201 CRLF line ends;
//! - 1,073 new people and 127 duplicate rows: 65 exact, 23 case,
//!   23 whitespace, 11 case + whitespace, 5 Gmail variants; 14 duplicates
//!   carry a tab in their padding;
//! - 39 empty emails (plus the 13 unidentifiable rows, 52 empty in all),
//!   9 invalid emails;
//! - 7 rows with 11 fields, 14 rows with 8 fields, 3 rows with invalid UTF-8,
//!   13 unidentifiable rows, and the unterminated last record (7 fields as a
//!   lenient reader sees it);
//! - 82 rows with a quoted comma in the company, 57 with a comma in the
//!   title, 32 with a newline in the title, 122 with NFD names;
//! - 1,138 rows with a valid email (excluding the last record) and 1,016
//!   distinct valid emails after trimming whitespace (spaces and tabs) and
//!   lowercasing (`expected_valid_distinct`). 21 of those are on ragged rows
//!   and 3 on invalid-UTF-8 rows, each unique, so a reader that rejects
//!   ragged and non-UTF-8 rows keeps 1,114 valid rows and 992 distinct emails.
//!

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use unicode_normalization::UnicodeNormalization;

#[derive(Parser, Debug)]
#[command(about = "Generate a deterministic, realistic contact CSV")]
struct Args {
    /// Number of data records.
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
    /// Seed: the same seed and options give a byte-identical file.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output file (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Fraction of rows that repeat an earlier person.
    #[arg(long, default_value_t = 0.10)]
    dup_rate: f64,
    /// Fraction of rows with an empty email.
    #[arg(long, default_value_t = 0.03)]
    empty_email_rate: f64,
    /// Fraction of rows with an invalid email.
    #[arg(long, default_value_t = 0.01)]
    invalid_email_rate: f64,
    /// Fraction of companies whose name carries a legal suffix after a comma.
    #[arg(long)]
    comma_company_rate: Option<f64>,
    /// Fraction of rows whose title contains a newline.
    #[arg(long)]
    newline_title_rate: Option<f64>,
    /// Add the hard cases (BOM, CRLF, ragged rows, invalid UTF-8, NFD, an
    /// unterminated quote at the end...).
    #[arg(long)]
    messy: bool,
}

// ---------------------------------------------------------------------------
// Randomness: SplitMix64, fixed forever so files stay reproducible.

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct SplitMix64(u64);

impl SplitMix64 {
    /// An independent stream for `(seed, stream, id)`.
    fn keyed(seed: u64, stream: u64, id: u64) -> Self {
        SplitMix64(mix64(
            seed ^ mix64(stream.wrapping_mul(GOLDEN) ^ mix64(id.wrapping_add(GOLDEN))),
        ))
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }
    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Uniform in `[0, n)` (multiply-high; bias is negligible for our n).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// A keyed bijection on `[0, m)`: a 4-round Feistel network on the smallest
/// even number of bits covering `m`, with cycle walking.
struct Permutation {
    m: u64,
    half_bits: u32,
    keys: [u64; 4],
}

impl Permutation {
    fn new(m: u64, seed: u64) -> Self {
        let bits = 64 - (m - 1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        let mut rng = SplitMix64::keyed(seed, 0xFE15, 0);
        let keys = [rng.next_u64(), rng.next_u64(), rng.next_u64(), rng.next_u64()];
        Permutation { m, half_bits, keys }
    }
    fn apply(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let mut v = x;
        loop {
            let (mut l, mut r) = (v >> self.half_bits, v & mask);
            for k in self.keys {
                let f = mix64(r ^ k) & mask;
                (l, r) = (r, l ^ f);
            }
            v = (l << self.half_bits) | r;
            if v < self.m {
                return v;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Built-in lists. An entry `Display|ascii` gives the ASCII form used in
// emails and URLs explicitly; otherwise it is folded from the display form.

#[rustfmt::skip]
const FIRST_NAMES: &[&str] = &[
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William",
    "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Christopher", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony",
    "Margaret", "Mark", "Sandra", "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily",
    "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Dorothy", "Kevin", "Carol", "Brian",
    "Amanda", "George", "Melissa", "Timothy", "Deborah", "Ronald", "Stephanie", "Edward",
    "Rebecca", "Jason", "Sharon", "Jeffrey", "Laura", "Ryan", "Cynthia", "Jacob", "Kathleen",
    "Gary", "Amy", "Nicholas", "Angela", "Eric", "Shirley", "Jonathan", "Anna", "Stephen",
    "Brenda", "Larry", "Pamela", "Justin", "Emma", "Scott", "Nicole", "Brandon", "Helen",
    "Benjamin", "Samantha", "Samuel", "Katherine", "Gregory", "Christine", "Alexander", "Debra",
    "Frank", "Rachel", "Patrick", "Carolyn", "Raymond", "Janet", "Jack", "Catherine", "Dennis",
    "Maria", "Jerry", "Heather", "Tyler", "Diane", "Aaron", "Olivia", "Priya", "Rahul", "Aisha",
    "Mohammed", "Fatima", "Omar", "Wei", "Mei", "Hiroshi", "Yuki", "Chen", "Ananya", "Arjun",
    "Carlos", "Lucia", "Mateo", "Sofia", "Diego", "Valentina", "Pablo", "Camila", "Luca",
    "Giulia", "Marco", "Chiara", "Pierre", "Camille", "Louis", "Chloe", "Hans", "Greta", "Lars",
    "Ingrid", "Sven", "Astrid", "Piotr", "Katarzyna", "Tomasz", "Magdalena", "Ivan", "Olga",
    "Dmitri", "Natalia", "Kwame", "Amara", "Tunde", "Zainab", "Liam", "Niamh", "Sean", "Aoife",
    "Noah", "Ava", "Ethan", "Mia", "Lucas", "Isla", "Oscar", "Freya", "José", "Zoë", "Łukasz",
    "Søren", "Björn", "François", "Jürgen", "Inês", "Agnès", "Renée", "Ángel",
    "Andrés", "Joël", "Maël", "Małgorzata", "Paweł", "Ólafur", "Sigríður", "Dagný", "Çağla",
    "Müge", "Jiří", "Tomáš", "Zoltán", "Ádám", "Øystein", "Åsa", "Jean-Luc", "Anne-Marie",
    "太郎|taro", "花子|hanako", "翔太|shota", "陽菜|hina", "伟|weiming", "芳|fang", "민준|minjun",
    "서연|seoyeon",
];

#[rustfmt::skip]
const LAST_NAMES: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Phillips", "Evans", "Turner",
    "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales",
    "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey",
    "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks",
    "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez",
    "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez", "Powell",
    "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes",
    "Fisher", "Vasquez", "Simmons", "Romero", "Jordan", "Patterson", "Alexander", "Hamilton",
    "Graham", "Reynolds", "Griffin", "Wallace", "Moreno", "West", "Cole", "Hayes", "Bryant",
    "Herrera", "Gibson", "Ellis", "Tran", "Medina", "Aguilar", "Stevens", "Murray", "Ford",
    "Castro", "Marshall", "Owens", "Harrison", "Fernandez", "McDonald", "Woods", "Washington",
    "Kennedy", "Wells", "Vargas", "Henry", "Chen", "Freeman", "Webb", "Tucker", "Guzman", "Burns",
    "Crawford", "Olson", "Simpson", "Porter", "Hunter", "Gordon", "Mendez", "Silva", "Shaw",
    "Snyder", "Mason", "Dixon", "Munoz", "Hunt", "Hicks", "Holmes", "Palmer", "Wagner", "Black",
    "Robertson", "Boyd", "Rose", "Stone", "Salazar", "Fox", "Warren", "Mills", "Meyer", "Rice",
    "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Hoffmann", "Rossi", "Russo", "Ferrari",
    "Esposito", "Bianchi", "Dubois", "Laurent", "Lefebvre", "Moreau", "Girard", "Kowalski",
    "Nowak", "Wiśniewski", "Wójcik", "Kowalczyk", "Lewandowski", "Jansen", "de Vries", "Bakker",
    "Visser", "Nielsen", "Jensen", "Hansen", "Johansson", "Andersson", "Larsson", "Sharma",
    "Singh", "Gupta", "Kumar", "Reddy", "Iyer", "Okafor", "Mensah", "Adeyemi", "O'Brien",
    "O'Connor", "Byrne", "Müller", "Schröder", "Gómez", "Peña", "Núñez", "Sørensen", "Ødegård",
    "Åberg", "Kovačević", "Dvořák", "Novák", "Yılmaz", "Öztürk", "Ferreira", "Gonçalves",
    "Conceição", "Lefèvre", "Benoît", "Żak", "田中|tanaka", "佐藤|sato", "鈴木|suzuki",
    "高橋|takahashi", "渡辺|watanabe", "王|wang", "李|li", "张|zhang", "김|kim-ha", "박|park",
];

#[rustfmt::skip]
const COMPANY_PREFIXES: &[&str] = &[
    "Acme", "Northwind", "Blue Harbor", "Granite", "Summit", "Redwood", "Silverline", "Ironclad",
    "Bright Path", "Cobalt", "Evergreen", "Foxglove", "Helix", "Juniper", "Kestrel", "Lumen",
    "Meridian", "Nimbus", "Orchard", "Pioneer", "Quantum", "Riverstone", "Sable", "Tidewater",
    "Umbra", "Vantage", "Willow", "Xenon", "Yellowtail", "Zephyr", "Atlas", "Beacon", "Cascade",
    "Driftwood", "Ember", "Falcon", "Glacier", "Harbinger", "Indigo", "Jasper", "Keystone",
    "Lighthouse", "Mosaic", "Nova", "Onyx", "Paragon", "Quarry", "Rampart", "Sequoia",
    "Trailhead", "Upland", "Vertex", "Wavelength", "Zenith", "Zürich", "Ørsted", "Café Noir",
    "Mühlberg", "São Paulo", "Kraków",
];

#[rustfmt::skip]
const COMPANY_SUFFIXES: &[&str] = &[
    "Analytics", "Labs", "Systems", "Software", "Health", "Logistics", "Capital", "Partners",
    "Energy", "Robotics", "Media", "Foods", "Networks", "Security", "Biotech", "Consulting",
    "Data", "Cloud", "Works", "Dynamics", "Solutions", "Ventures", "Industries", "Holdings",
    "Technologies", "Insights", "Payments", "Learning", "Mobility", "Retail", "Studios",
    "Manufacturing", "Pharma", "Aerospace", "Telecom", "Insurance", "Realty", "Outfitters",
    "Brewing", "Group",
];

#[rustfmt::skip]
const LEGAL_SUFFIXES: &[&str] = &[", Inc.", ", LLC", ", Ltd.", ", GmbH", ", S.A.", ", Inc"];

#[rustfmt::skip]
const TLDS: &[&str] = &["com", "com", "com", "com", "com", "com", "io", "io", "co", "ai"];

#[rustfmt::skip]
const FREE_MAIL: &[&str] = &["gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com"];

#[rustfmt::skip]
const TITLES: &[&str] = &[
    "Chief Executive Officer", "CEO", "Co-Founder", "Founder & CEO", "Chief Technology Officer",
    "CTO", "Chief Financial Officer", "CFO", "Chief Operating Officer", "Chief Marketing Officer",
    "VP of Sales", "VP Sales", "VP of Marketing", "VP Engineering", "VP of Product",
    "Head of Sales", "Head of Marketing", "Head of Growth", "Head of Data", "Head of People",
    "Director of Engineering", "Director of Sales", "Director of Marketing",
    "Director of Operations", "Sales Director", "Marketing Manager", "Product Manager",
    "Senior Product Manager", "Engineering Manager", "Software Engineer",
    "Senior Software Engineer", "Staff Engineer", "Data Scientist", "Data Engineer",
    "Data Analyst", "Account Executive", "Senior Account Executive", "Account Manager",
    "Sales Development Representative", "Business Development Manager",
    "Customer Success Manager", "Operations Manager", "HR Manager", "Talent Acquisition Lead",
    "Recruiter", "Office Manager", "Controller", "Financial Analyst", "Procurement Manager",
    "IT Manager", "Systems Administrator", "DevOps Engineer", "Security Engineer",
    "Solutions Architect", "UX Designer", "Product Designer", "Content Strategist",
    "Demand Generation Manager", "RevOps Manager", "General Counsel", "Partner",
    "Managing Director", "Consultant", "Senior Consultant", "Research Scientist",
    "Supply Chain Manager", "Plant Manager", "Project Manager", "Program Manager",
    "Chief of Staff", "Executive Assistant", "Board Member",
];

#[rustfmt::skip]
const TITLES_WITH_COMMA: &[&str] = &[
    "Director, Sales", "Director, Business Development", "VP, Engineering",
    "Manager, Customer Success", "Head of Partnerships, EMEA", "Senior Director, Marketing",
];

#[rustfmt::skip]
const TITLES_WITH_NEWLINE: &[&str] = &[
    "Head of Growth\nEMEA", "VP Sales\nNorth America", "Founder\n(stealth)",
    "Account Executive\nEnterprise", "CTO\nand Co-Founder",
];

/// (city, country, phone format: `#` is a random digit)
#[rustfmt::skip]
const CITIES: &[(&str, &str, &str)] = &[
    ("New York", "United States", "+1 212-###-####"),
    ("San Francisco", "United States", "+1 415-###-####"),
    ("Austin", "United States", "+1 512-###-####"),
    ("Chicago", "United States", "+1 312-###-####"),
    ("Boston", "United States", "(617) ###-####"),
    ("Seattle", "United States", "+1 206 ### ####"),
    ("Denver", "United States", "303.###.####"),
    ("Atlanta", "United States", "+1 404-###-####"),
    ("Toronto", "Canada", "+1 416-###-####"),
    ("Montréal", "Canada", "+1 514-###-####"),
    ("London", "United Kingdom", "+44 20 #### ####"),
    ("Manchester", "United Kingdom", "+44 161 ### ####"),
    ("Dublin", "Ireland", "+353 1 ### ####"),
    ("Paris", "France", "+33 1 ## ## ## ##"),
    ("Lyon", "France", "+33 4 ## ## ## ##"),
    ("Berlin", "Germany", "+49 30 ########"),
    ("München", "Germany", "+49 89 #######"),
    ("Hamburg", "Germany", "+49 40 ########"),
    ("Zürich", "Switzerland", "+41 44 ### ## ##"),
    ("Amsterdam", "Netherlands", "+31 20 ### ####"),
    ("København", "Denmark", "+45 ## ## ## ##"),
    ("Stockholm", "Sweden", "+46 8 ### ### ##"),
    ("Oslo", "Norway", "+47 ## ## ## ##"),
    ("Kraków", "Poland", "+48 12 ### ## ##"),
    ("Warszawa", "Poland", "+48 22 ### ## ##"),
    ("Madrid", "Spain", "+34 91 ### ## ##"),
    ("Barcelona", "Spain", "+34 93 ### ## ##"),
    ("Lisboa", "Portugal", "+351 21 ### ####"),
    ("Milano", "Italy", "+39 02 ########"),
    ("São Paulo", "Brazil", "+55 11 9####-####"),
    ("Ciudad de México", "Mexico", "+52 55 #### ####"),
    ("Bogotá", "Colombia", "+57 1 #######"),
    ("Bengaluru", "India", "+91 80 #### ####"),
    ("Mumbai", "India", "+91 22 #### ####"),
    ("Singapore", "Singapore", "+65 #### ####"),
    ("東京", "Japan", "+81 3-####-####"),
    ("Sydney", "Australia", "+61 2 #### ####"),
    ("Lagos", "Nigeria", "+234 1 ### ####"),
    ("Nairobi", "Kenya", "+254 20 #######"),
    ("Tel Aviv", "Israel", "+972 3-###-####"),
    ("İstanbul", "Türkiye", "+90 212 ### ## ##"),
    ("Seoul", "South Korea", "+82 2-####-####"),
];

/// Names whose Latin-1 encoding is written on the invalid-UTF-8 rows.
#[rustfmt::skip]
const LATIN1_NAMES: &[&str] = &["José", "Zoë", "Björn", "François", "Jürgen", "Inês", "Søren", "Agnès"];

const TAGS: &[&str] = &["news", "work", "sales", "crm", "2024", "promo"];

/// Folds a display name to the lowercase ASCII used in emails and URLs.
fn fold_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let r: &str = match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'ą' | 'Á' | 'À' | 'Â' | 'Ä' | 'Ã' | 'Å' | 'Ą' => "a",
            'æ' | 'Æ' => "ae",
            'ç' | 'ć' | 'č' | 'Ç' | 'Ć' | 'Č' => "c",
            'é' | 'è' | 'ê' | 'ë' | 'ę' | 'ě' | 'É' | 'È' | 'Ê' | 'Ë' | 'Ę' => "e",
            'ğ' | 'Ğ' => "g",
            'í' | 'ì' | 'î' | 'ï' | 'ı' | 'Í' | 'İ' => "i",
            'ł' | 'Ł' => "l",
            'ñ' | 'ń' | 'Ñ' | 'Ń' => "n",
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'Ó' | 'Ö' | 'Ø' => "o",
            'ř' | 'Ř' => "r",
            'ś' | 'š' | 'ş' | 'Ś' | 'Š' | 'Ş' => "s",
            'ß' => "ss",
            'ú' | 'ù' | 'û' | 'ü' | 'ů' | 'Ú' | 'Ü' => "u",
            'ý' | 'Ý' => "y",
            'ź' | 'ż' | 'ž' | 'Ź' | 'Ż' | 'Ž' => "z",
            'ð' | 'Ð' => "d",
            'þ' | 'Þ' => "th",
            ' ' | '\'' | '&' => "",
            c if c.is_ascii_alphanumeric() || c == '-' => {
                out.push(c.to_ascii_lowercase());
                continue;
            }
            c => panic!("no ASCII folding for {c:?} in {s:?}; add `Display|ascii`"),
        };
        out.push_str(r);
    }
    out
}

struct Name {
    display: &'static str,
    ascii: String,
    /// NFD form when it differs from the display form.
    nfd: Option<String>,
}

fn names(list: &'static [&'static str]) -> Vec<Name> {
    let mut seen = HashSet::new();
    list.iter()
        .map(|entry| {
            let (display, ascii) = match entry.split_once('|') {
                Some((d, a)) => (d, a.to_string()),
                None => (*entry, fold_ascii(entry)),
            };
            assert!(
                !ascii.is_empty() && ascii.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "bad ASCII form {ascii:?} for {display:?}"
            );
            assert!(seen.insert(ascii.clone()), "two names fold to {ascii:?}");
            let nfd: String = display.nfd().collect();
            Name {
                display,
                ascii,
                nfd: (nfd != display).then_some(nfd),
            }
        })
        .collect()
}

struct Company {
    name: String,
    domain: String,
    /// 0 first.last, 1 first_last, 2 last.first, 3 first-last
    pattern: u8,
}

fn companies(seed: u64, comma_rate: f64) -> Vec<Company> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for p in COMPANY_PREFIXES {
        for s in COMPANY_SUFFIXES {
            let id = out.len() as u64;
            let mut rng = SplitMix64::keyed(seed, 0xC0, id);
            let domain = format!("{}{}.{}", fold_ascii(p), fold_ascii(s), rng.pick(TLDS));
            let base = format!("{p} {s}");
            assert!(seen.insert(base.clone()), "duplicate company base {base}");
            let pattern = match rng.below(10) {
                0..=5 => 0,
                6 => 1,
                7 => 2,
                _ => 3,
            };
            let name = if rng.chance(comma_rate) {
                format!("{base}{}", rng.pick(LEGAL_SUFFIXES))
            } else {
                base
            };
            out.push(Company { name, domain, pattern });
        }
    }
    let mut domains = HashSet::new();
    for c in &out {
        let stem = c.domain.split('.').next().unwrap();
        assert!(domains.insert(stem.to_string()), "duplicate domain stem {stem}");
    }
    out
}

// ---------------------------------------------------------------------------
// People.

#[derive(Clone, Copy, PartialEq, Eq)]
enum EmailKind {
    Valid,
    Empty,
    Invalid,
}

struct World {
    seed: u64,
    first: Vec<Name>,
    last: Vec<Name>,
    companies: Vec<Company>,
    perm: Permutation,
    space: u64,
}

/// Everything about a person that stays the same when they appear again.
struct Person {
    first: usize,
    last: usize,
    company: usize,
    city: usize,
    /// Free-mail domain, if they use one.
    free_mail: Option<&'static str>,
    /// Appended when ids exceed the name × company space (not for 5M rows).
    cycle: u64,
    slug_hash: u64,
    title: usize,
    website_style: u8,
}

impl World {
    fn person(&self, id: u64) -> Person {
        let (cycle, idx) = (id / self.space, self.perm.apply(id % self.space));
        let nf = self.first.len() as u64;
        let nl = self.last.len() as u64;
        let mut rng = SplitMix64::keyed(self.seed, 0xBE0, id);
        Person {
            first: (idx % nf) as usize,
            last: ((idx / nf) % nl) as usize,
            company: (idx / (nf * nl)) as usize,
            cycle,
            city: rng.below(CITIES.len() as u64) as usize,
            free_mail: rng.chance(0.12).then(|| *rng.pick(FREE_MAIL)),
            slug_hash: rng.next_u64(),
            title: rng.below(TITLES.len() as u64) as usize,
            website_style: rng.below(18) as u8,
        }
    }

    fn email(&self, p: &Person, out: &mut String) {
        let (f, l) = (&self.first[p.first].ascii, &self.last[p.last].ascii);
        let c = &self.companies[p.company];
        match p.free_mail {
            Some(domain) => {
                out.push_str(f);
                out.push('.');
                out.push_str(l);
                push_u64(out, p.company as u64 + 1);
                if p.cycle > 0 {
                    out.push('_');
                    push_u64(out, p.cycle);
                }
                out.push('@');
                out.push_str(domain);
            }
            None => {
                let (a, sep, b) = match c.pattern {
                    0 => (f, '.', l),
                    1 => (f, '_', l),
                    2 => (l, '.', f),
                    _ => (f, '-', l),
                };
                out.push_str(a);
                out.push(sep);
                out.push_str(b);
                if p.cycle > 0 {
                    push_u64(out, p.cycle);
                }
                out.push('@');
                out.push_str(&c.domain);
            }
        }
    }
}

/// The form a name is written in on this row.
fn shown(n: &Name, nfd: bool) -> &str {
    match (&n.nfd, nfd) {
        (Some(d), true) => d,
        _ => n.display,
    }
}

fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap());
}

// ---------------------------------------------------------------------------
// CSV writing.

fn push_field(row: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        row.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                row.push(b'"');
            }
            row.push(b);
        }
        row.push(b'"');
    } else {
        row.extend_from_slice(s.as_bytes());
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Special {
    None,
    TooMany,
    TooFew,
    BadUtf8,
    Anonymous,
}

#[derive(Default)]
struct Stats {
    new_people: u64,
    dup_rows: u64,
    dup_exact: u64,
    dup_case: u64,
    dup_space: u64,
    dup_case_space: u64,
    dup_gmail: u64,
    empty_email: u64,
    invalid_email: u64,
    company_comma: u64,
    title_comma: u64,
    title_newline: u64,
    nfd_rows: u64,
    too_many_fields: u64,
    too_few_fields: u64,
    invalid_utf8: u64,
    unidentifiable: u64,
    unterminated: u64,
    valid_email_rows: u64,
    valid_distinct: u64,
    valid_distinct_on_ragged: u64,
    valid_distinct_on_bad_utf8: u64,
    bytes: u64,
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let messy = args.messy;
    let comma_rate = args.comma_company_rate.unwrap_or(if messy { 0.06 } else { 0.03 });
    let newline_rate = args.newline_title_rate.unwrap_or(if messy { 0.02 } else { 0.002 });
    let (dup_rate, empty_rate, invalid_rate) = (args.dup_rate, args.empty_email_rate, args.invalid_email_rate);
    assert!(
        dup_rate >= 0.0 && empty_rate >= 0.0 && invalid_rate >= 0.0,
        "rates must not be negative"
    );
    // Special kinds only in --messy: too many, too few, invalid UTF-8, anonymous.
    let special_rates = if messy { [0.008, 0.008, 0.004, 0.01] } else { [0.0; 4] };
    assert!(
        dup_rate + empty_rate + invalid_rate + special_rates.iter().sum::<f64>() <= 1.0,
        "rates add up to more than 1"
    );

    let first = names(FIRST_NAMES);
    let last = names(LAST_NAMES);
    let companies = companies(args.seed, comma_rate);
    let space = (first.len() * last.len() * companies.len()) as u64;
    let world = World {
        seed: args.seed,
        perm: Permutation::new(space, args.seed),
        first,
        last,
        companies,
        space,
    };

    let sink: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(File::create(path)?),
        None => Box::new(io::stdout().lock()),
    };
    let mut w = BufWriter::with_capacity(1 << 20, sink);
    let eol: &[u8] = if messy { b"\r\n" } else { b"\n" };
    if messy {
        w.write_all(b"\xEF\xBB\xBF")?;
    }
    w.write_all(b"first_name,last_name,email,company,website,linkedin_url,title,phone,city,country")?;
    w.write_all(eol)?;

    let mut rng = SplitMix64::keyed(args.seed, 0x0505, 0);
    let mut st = Stats {
        bytes: 0,
        ..Default::default()
    };
    let mut row: Vec<u8> = Vec::with_capacity(512);
    let mut email = String::with_capacity(128);
    let mut scratch = String::with_capacity(128);
    let mut gmail_variants: HashSet<String> = HashSet::new();
    let mut next_person: u64 = 0;
    // Ids of people that may be duplicated (valid email, not special).
    let mut dup_pool: Vec<u32> = Vec::new();
    assert!(args.rows < u32::MAX as u64, "--rows must be below 2^32");

    for r in 0..args.rows {
        let last_row = messy && r + 1 == args.rows;
        // What is this row?
        let u = rng.unit();
        let mut acc = dup_rate;
        let (is_dup, kind, special) = if u < acc && !dup_pool.is_empty() && !last_row {
            (true, EmailKind::Valid, Special::None)
        } else {
            let mut kind = EmailKind::Valid;
            let mut special = Special::None;
            let t = [
                (empty_rate, Some(EmailKind::Empty), Special::None),
                (invalid_rate, Some(EmailKind::Invalid), Special::None),
                (special_rates[0], None, Special::TooMany),
                (special_rates[1], None, Special::TooFew),
                (special_rates[2], None, Special::BadUtf8),
                (special_rates[3], None, Special::Anonymous),
            ];
            if !last_row && u >= acc {
                for (rate, k, s) in t {
                    acc += rate;
                    if u < acc {
                        if let Some(k) = k {
                            kind = k;
                        }
                        special = s;
                        break;
                    }
                }
            }
            if special == Special::Anonymous {
                kind = EmailKind::Empty;
            }
            (false, kind, special)
        };

        let id = if is_dup {
            dup_pool[rng.below(dup_pool.len() as u64) as usize] as u64
        } else {
            next_person += 1;
            next_person - 1
        };
        let p = world.person(id);
        let company = &world.companies[p.company];
        let (city, country, phone_fmt) = CITIES[p.city];

        // Email.
        email.clear();
        match kind {
            EmailKind::Empty => {}
            EmailKind::Valid => world.email(&p, &mut email),
            EmailKind::Invalid => {
                world.email(&p, &mut email);
                let at = email.find('@').unwrap();
                match rng.below(5) {
                    0 => {
                        email.remove(at);
                    }
                    1 => email.insert(at, '@'),
                    2 => email.insert_str(at, "@mail"),
                    3 => {
                        let sp = email[..at].find(['.', '_', '-']).unwrap_or(at / 2);
                        email.replace_range(sp..sp + 1, " ");
                    }
                    _ => {
                        let dot = email.rfind('.').unwrap();
                        email.truncate(dot);
                    }
                }
            }
        }
        let mut new_variant = false;
        if is_dup {
            st.dup_rows += 1;
            let gmail = p.free_mail == Some("gmail.com");
            let gmail_share = if messy { 0.5 } else { 0.1 };
            let v = rng.unit();
            if gmail && v < gmail_share {
                st.dup_gmail += 1;
                let at = email.find('@').unwrap();
                let (drop_dots, tag) = match rng.below(3) {
                    0 => (true, false),
                    1 => (false, true),
                    _ => (true, true),
                };
                let mut at = at;
                if drop_dots {
                    let local: String = email[..at].chars().filter(|&c| c != '.').collect();
                    email.replace_range(..at, &local);
                    at = local.len();
                }
                if tag {
                    email.insert(at, '+');
                    let tag: &&str = rng.pick(TAGS);
                    email.insert_str(at + 1, tag);
                }
                new_variant = gmail_variants.insert(email.clone());
            } else {
                let v = if gmail {
                    (v - gmail_share) / (1.0 - gmail_share)
                } else {
                    v
                };
                let (case, space) = match v {
                    v if v < 0.50 => (false, false),
                    v if v < 0.72 => (true, false),
                    v if v < 0.89 => (false, true),
                    _ => (true, true),
                };
                match (case, space) {
                    (false, false) => st.dup_exact += 1,
                    (true, false) => st.dup_case += 1,
                    (false, true) => st.dup_space += 1,
                    (true, true) => st.dup_case_space += 1,
                }
                if case {
                    if rng.chance(0.3) {
                        email.make_ascii_uppercase();
                    } else {
                        // Capitalise the name parts and the domain's first letter.
                        scratch.clear();
                        let mut start = true;
                        for c in email.chars() {
                            scratch.push(if start { c.to_ascii_uppercase() } else { c });
                            start = matches!(c, '.' | '_' | '-' | '@');
                        }
                        std::mem::swap(&mut email, &mut scratch);
                    }
                }
                if space {
                    let pad = |rng: &mut SplitMix64| -> &'static str {
                        if messy && rng.chance(0.3) {
                            "\t"
                        } else {
                            let pad: &&str = rng.pick(&[" ", " ", "  "]);
                            pad
                        }
                    };
                    match rng.below(3) {
                        0 => email.insert_str(0, pad(&mut rng)),
                        1 => email.push_str(pad(&mut rng)),
                        _ => {
                            email.insert_str(0, pad(&mut rng));
                            email.push_str(pad(&mut rng));
                        }
                    }
                }
            }
        } else {
            st.new_people += 1;
            match kind {
                EmailKind::Empty if special != Special::Anonymous => st.empty_email += 1,
                EmailKind::Invalid => st.invalid_email += 1,
                _ => {}
            }
            if kind == EmailKind::Valid && special == Special::None && !last_row {
                dup_pool.push(id as u32);
            }
        }
        if kind == EmailKind::Valid && !last_row {
            st.valid_email_rows += 1;
            if !is_dup || new_variant {
                st.valid_distinct += 1;
                match special {
                    Special::TooMany | Special::TooFew => st.valid_distinct_on_ragged += 1,
                    Special::BadUtf8 => st.valid_distinct_on_bad_utf8 += 1,
                    _ => {}
                }
            }
        }

        // Write the row.
        row.clear();
        let fname = &world.first[p.first];
        let lname = &world.last[p.last];
        // Only names actually written count: invalid-UTF-8 rows replace the
        // first name and unidentifiable rows have none.
        let decomposable = match special {
            Special::Anonymous => false,
            Special::BadUtf8 => lname.nfd.is_some(),
            _ => fname.nfd.is_some() || lname.nfd.is_some(),
        };
        let nfd = messy && decomposable && rng.chance(0.5);
        if nfd {
            st.nfd_rows += 1;
        }
        match special {
            Special::Anonymous => {
                st.unidentifiable += 1;
                row.push(b',');
            }
            Special::BadUtf8 => {
                st.invalid_utf8 += 1;
                let name = rng.pick(LATIN1_NAMES);
                row.extend(name.chars().map(|c| c as u32 as u8));
                row.push(b',');
                push_field(&mut row, shown(lname, nfd));
            }
            _ => {
                push_field(&mut row, shown(fname, nfd));
                row.push(b',');
                push_field(&mut row, shown(lname, nfd));
            }
        }
        row.push(b',');
        push_field(&mut row, &email);
        row.push(b',');
        if company.name.contains(',') {
            st.company_comma += 1;
        }
        push_field(&mut row, &company.name);
        row.push(b',');
        match p.website_style {
            0 | 1 => {}
            2..=8 => row.extend_from_slice(company.domain.as_bytes()),
            9..=14 => {
                row.extend_from_slice(b"https://www.");
                row.extend_from_slice(company.domain.as_bytes());
            }
            _ => {
                row.extend_from_slice(b"http://");
                row.extend_from_slice(company.domain.as_bytes());
                row.push(b'/');
            }
        }
        row.push(b',');
        if special != Special::Anonymous && rng.chance(0.5) {
            if rng.chance(0.4) {
                row.extend_from_slice(b"https://www.");
            }
            row.extend_from_slice(b"linkedin.com/in/");
            row.extend_from_slice(fname.ascii.as_bytes());
            row.push(b'-');
            row.extend_from_slice(lname.ascii.as_bytes());
            row.push(b'-');
            let h = p.slug_hash;
            for i in 0..6 {
                row.push(b"0123456789abcdef"[((h >> (i * 4)) & 15) as usize]);
            }
        }
        row.push(b',');
        if last_row {
            st.unterminated += 1;
            row.extend_from_slice(b"\"never closed... ");
            row.extend_from_slice(TITLES[p.title].as_bytes());
            row.extend_from_slice(b",+1 555-0100,Nowhere,Atlantis");
            row.extend_from_slice(eol);
            w.write_all(&row)?;
            st.bytes += row.len() as u64;
            break;
        }
        let title = if rng.chance(newline_rate) {
            st.title_newline += 1;
            rng.pick(TITLES_WITH_NEWLINE)
        } else if rng.chance(0.05) {
            st.title_comma += 1;
            rng.pick(TITLES_WITH_COMMA)
        } else if is_dup && rng.chance(0.2) {
            rng.pick(TITLES)
        } else {
            &TITLES[p.title]
        };
        push_field(&mut row, title);
        row.push(b',');
        if rng.chance(0.85) {
            let mut digits = SplitMix64::keyed(args.seed, 0x9409E, id);
            for &b in phone_fmt.as_bytes() {
                row.push(if b == b'#' { b'0' + digits.below(10) as u8 } else { b });
            }
        }
        if special != Special::TooFew {
            row.push(b',');
            push_field(&mut row, city);
            row.push(b',');
            push_field(&mut row, country);
        } else {
            st.too_few_fields += 1;
        }
        if special == Special::TooMany {
            st.too_many_fields += 1;
            row.extend_from_slice(b",note: imported twice");
        }
        row.extend_from_slice(eol);
        w.write_all(&row)?;
        st.bytes += row.len() as u64;
    }
    w.flush()?;
    drop(w);

    let secs = started.elapsed().as_secs_f64();
    let s = &st;
    let rows = args.rows;
    eprintln!(
        "rows={rows}\nseed={}\nmessy={messy}\nnew_people={}\ndup_rows={}\ndup_exact={}\ndup_case={}\n\
         dup_whitespace={}\ndup_case_whitespace={}\ndup_gmail_variant={}\ndistinct_gmail_variants={}\nempty_email={}\n\
         invalid_email={}\ncompany_comma_rows={}\ntitle_comma_rows={}\ntitle_newline_rows={}\n\
         nfd_rows={}\ntoo_many_fields={}\ntoo_few_fields={}\ninvalid_utf8={}\nunidentifiable={}\n\
         unterminated_last_row={}\nvalid_email_rows={}\nexpected_valid_distinct={}\n\
         valid_distinct_on_ragged={}\nvalid_distinct_on_invalid_utf8={}\nbytes={}\n\
         avg_row_bytes={:.1}\nseconds={secs:.2}\nrows_per_second={:.0}",
        args.seed,
        s.new_people,
        s.dup_rows,
        s.dup_exact,
        s.dup_case,
        s.dup_space,
        s.dup_case_space,
        s.dup_gmail,
        gmail_variants.len(),
        s.empty_email,
        s.invalid_email,
        s.company_comma,
        s.title_comma,
        s.title_newline,
        s.nfd_rows,
        s.too_many_fields,
        s.too_few_fields,
        s.invalid_utf8,
        s.unidentifiable,
        s.unterminated,
        s.valid_email_rows,
        s.valid_distinct,
        s.valid_distinct_on_ragged,
        s.valid_distinct_on_bad_utf8,
        s.bytes,
        s.bytes as f64 / rows.max(1) as f64,
        rows as f64 / secs.max(1e-9),
    );
    Ok(())
}
