//! The deterministic synthetic universe: companies and people generated from
//! the seed, shared by all four vendors. Every attribute of an entity is a pure
//! function of (seed, entity index), so the same seed gives the same universe on
//! every start, and each vendor sees the same facts (the person RocketReach
//! finds works at a company ReachStream knows, their email gets a LeadRocks
//! verdict, graph8 lists hold some of them).
//!
//! Behaviour flags that drive the simulators are on the records themselves
//! ([`Person::rr`], [`Company::catch_all`], [`Person::suppressed`], …), so a
//! caller (the demo CSV generator, tests) can pick a mix of cases.
//!
//! Why one long file: every attribute's generator follows the one rule above
//! (a pure function of seed and index), and keeping them together is how a
//! reader checks that none breaks it.

use std::collections::HashMap;

use super::util::{
    Mix, hash_str, hash3, normalize_domain, normalize_employer, normalize_linkedin, normalize_name, phone_digits,
};

/// How RocketReach answers a lookup of this person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RrOutcome {
    /// `complete` on the first answer.
    Instant,
    /// `searching`/`progress` first, `complete` after the configured polls/time.
    Async,
    /// `searching`/`progress` first, then `failed`.
    Failed,
    /// RocketReach has no profile: 404.
    NotFound,
}

/// LeadRocks verdict vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum EmailStatus {
    #[serde(rename = "valid")]
    Valid,
    #[serde(rename = "not valid")]
    NotValid,
    #[serde(rename = "catch-all")]
    CatchAll,
    #[serde(rename = "unknown")]
    Unknown,
}

impl EmailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailStatus::Valid => "valid",
            EmailStatus::NotValid => "not valid",
            EmailStatus::CatchAll => "catch-all",
            EmailStatus::Unknown => "unknown",
        }
    }
}

/// A LeadRocks-style verdict for one address.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    pub status: EmailStatus,
    pub safe_to_send: bool,
    pub disposable: bool,
    pub free_account: bool,
    pub role_account: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Phone {
    pub number: String,
    pub e164: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Company {
    pub idx: u32,
    /// RocketReach company id.
    pub id: u64,
    pub name: String,
    pub domain: String,
    pub website: String,
    pub linkedin_url: String,
    pub industry: &'static str,
    pub sic_code: &'static str,
    pub employee_size: &'static str,
    pub employee_count: u32,
    pub revenue: &'static str,
    pub revenue_usd: u64,
    pub company_type: &'static str,
    pub tech_keywords: Vec<&'static str>,
    pub founded_year: u32,
    pub linkedin_followers: u32,
    pub ticker: Option<String>,
    pub street: String,
    pub city: &'static str,
    pub state: &'static str,
    pub country: &'static str,
    pub country_code: &'static str,
    pub zipcode: String,
    pub phone: String,
    /// The mail server accepts every address at this domain.
    pub catch_all: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Person {
    pub idx: u32,
    /// RocketReach profile id (also the ReachStream record id).
    pub id: u64,
    pub first_name: String,
    pub middle_name: Option<String>,
    pub last_name: String,
    pub name: String,
    pub company: u32,
    pub title: &'static str,
    pub title_level: &'static str,
    pub department: &'static str,
    pub function: &'static str,
    pub work_email: String,
    pub personal_email: Option<String>,
    pub phone: Option<Phone>,
    pub mobile: Option<Phone>,
    pub linkedin_url: Option<String>,
    pub twitter_url: Option<String>,
    pub city: &'static str,
    pub state: &'static str,
    pub country: &'static str,
    pub country_code: &'static str,
    pub birth_year: u32,
    pub connections: u32,
    pub skills: Vec<&'static str>,
    pub rr: RrOutcome,
    /// Verdict of the work email (catch-all when the company domain is).
    pub email_status: EmailStatus,
    /// On graph8's seeded "Do not contact" suppressions list.
    pub suppressed: bool,
}

/// The universe and its lookup indexes, built once per seed.
pub struct Universe {
    seed: u64,
    pub companies: Vec<Company>,
    pub people: Vec<Person>,
    by_email: HashMap<String, u32>,
    by_linkedin: HashMap<String, u32>,
    by_name_employer: HashMap<(String, String), u32>,
    by_phone: HashMap<String, u32>,
    company_by_domain: HashMap<String, u32>,
    company_by_name: HashMap<String, u32>,
    company_by_linkedin: HashMap<String, u32>,
    company_by_ticker: HashMap<String, u32>,
}

const PERSON_ID_BASE: u64 = 100_000;
const COMPANY_ID_BASE: u64 = 1_000;

impl Universe {
    pub fn new(seed: u64, companies: u32, people: u32) -> Self {
        let companies_n = companies.max(1);
        let mut u = Universe {
            seed,
            companies: Vec::with_capacity(companies_n as usize),
            people: Vec::with_capacity(people as usize),
            by_email: HashMap::with_capacity(people as usize * 2),
            by_linkedin: HashMap::with_capacity(people as usize),
            by_name_employer: HashMap::with_capacity(people as usize * 2),
            by_phone: HashMap::new(),
            company_by_domain: HashMap::new(),
            company_by_name: HashMap::new(),
            company_by_linkedin: HashMap::new(),
            company_by_ticker: HashMap::new(),
        };
        for i in 0..companies_n {
            let c = u.make_company(i);
            u.company_by_domain.insert(c.domain.clone(), i);
            u.company_by_name.entry(normalize_employer(&c.name)).or_insert(i);
            u.company_by_linkedin.insert(normalize_linkedin(&c.linkedin_url), i);
            if let Some(t) = &c.ticker {
                u.company_by_ticker.entry(t.clone()).or_insert(i);
            }
            u.companies.push(c);
        }
        for i in 0..people {
            let p = u.make_person(i);
            u.by_email.insert(p.work_email.clone(), i);
            if let Some(e) = &p.personal_email {
                u.by_email.entry(e.clone()).or_insert(i);
            }
            if let Some(l) = &p.linkedin_url {
                u.by_linkedin.insert(normalize_linkedin(l), i);
            }
            for ph in [&p.phone, &p.mobile].into_iter().flatten() {
                u.by_phone.entry(phone_digits(&ph.e164)).or_insert(i);
            }
            let c = &u.companies[p.company as usize];
            let name = normalize_name(&p.name);
            let short = normalize_name(&format!("{} {}", p.first_name, p.last_name));
            for n in [name, short] {
                u.by_name_employer
                    .entry((n.clone(), normalize_employer(&c.name)))
                    .or_insert(i);
                u.by_name_employer
                    .entry((n, normalize_employer(&c.domain)))
                    .or_insert(i);
            }
            u.people.push(p);
        }
        u
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn make_company(&mut self, i: u32) -> Company {
        let mut r = Mix::new(hash3(self.seed, "company", i as u64));
        let mut name = format!("{} {}", r.pick(COMPANY_PREFIX), r.pick(COMPANY_NOUN));
        let mut slug: String = name
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let tld = *r.pick(&["com", "com", "com", "io", "co", "net", "ai"]);
        let mut domain = format!("{slug}.{tld}");
        let mut n = 2;
        while self.company_by_domain.contains_key(&domain)
            || self.company_by_name.contains_key(&normalize_employer(&name))
        {
            name = format!(
                "{} {} {}",
                r.pick(COMPANY_PREFIX),
                r.pick(COMPANY_NOUN),
                r.pick(COMPANY_TAIL)
            );
            slug = name
                .to_ascii_lowercase()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect();
            if n > 4 {
                slug = format!("{slug}{n}");
            }
            domain = format!("{slug}.{tld}");
            n += 1;
        }
        let (industry, sic) = *r.pick(INDUSTRIES);
        let size_i = r.below(EMPLOYEE_SIZES.len() as u64) as usize;
        let (employee_size, lo, hi) = EMPLOYEE_SIZES[size_i];
        let employee_count = lo + r.below((hi - lo + 1) as u64) as u32;
        let rev_i = (size_i + r.below(2) as usize).min(REVENUES.len() - 1);
        let (revenue, revenue_usd) = REVENUES[rev_i];
        let loc = *r.pick(LOCATIONS);
        let ntech = 2 + r.below(3) as usize;
        let mut tech = Vec::with_capacity(ntech);
        while tech.len() < ntech {
            let t = *r.pick(TECH);
            if !tech.contains(&t) {
                tech.push(t);
            }
        }
        let ticker = (employee_count > 5000 && r.chance(0.5))
            .then(|| slug.chars().take(4).collect::<String>().to_ascii_uppercase());
        Company {
            idx: i,
            id: COMPANY_ID_BASE + i as u64,
            website: format!("https://www.{domain}"),
            linkedin_url: format!("https://www.linkedin.com/company/{slug}"),
            industry,
            sic_code: sic,
            employee_size,
            employee_count,
            revenue,
            revenue_usd,
            company_type: if ticker.is_some() {
                "Public"
            } else {
                PRIVATE_TYPES[r.below(PRIVATE_TYPES.len() as u64) as usize]
            },
            tech_keywords: tech,
            founded_year: 1950 + r.below(74) as u32,
            linkedin_followers: (employee_count as u64 * (5 + r.below(40))) as u32,
            ticker,
            street: format!("{} {}", 1 + r.below(9_999), r.pick(STREETS)),
            city: loc.0,
            state: loc.1,
            country: loc.2,
            country_code: loc.3,
            zipcode: format!("{}{:03}", loc.4, r.below(1000)),
            phone: format!("+{} {}-555-{:04}", loc.5, 200 + r.below(700), r.below(10_000)),
            catch_all: r.chance(0.12),
            name,
            domain,
        }
    }

    fn make_person(&mut self, i: u32) -> Person {
        let mut r = Mix::new(hash3(self.seed, "person", i as u64));
        let first = *r.pick(FIRST_NAMES);
        let last = *r.pick(LAST_NAMES);
        let middle = r
            .chance(0.15)
            .then(|| r.pick(&["A.", "J.", "M.", "R.", "L.", "K."]).to_string());
        let company = r.below(self.companies.len() as u64) as u32;
        let c = &self.companies[company as usize];
        let (title, level, dept, function) = *r.pick(TITLES);
        let (fl, ll) = (first.to_ascii_lowercase(), last.to_ascii_lowercase());
        let pattern = r.below(10);
        let base = match pattern {
            0..=5 => format!("{fl}.{ll}"),
            6 | 7 => format!("{}{ll}", &fl[..1]),
            8 => fl.clone(),
            _ => format!("{fl}_{ll}"),
        };
        let mut work_email = format!("{base}@{}", c.domain);
        let mut n = 2;
        while self.by_email.contains_key(&work_email) {
            work_email = format!("{base}{n}@{}", c.domain);
            n += 1;
        }
        let personal_email = r.chance(0.5).then(|| {
            let dom = *r.pick(FREE_DOMAINS);
            format!("{fl}.{ll}{}@{dom}", 10 + r.below(90))
        });
        let personal_email = personal_email.filter(|e| !self.by_email.contains_key(e));
        let area = 200 + r.below(700);
        let cc = if c.country_code == "US" { "1" } else { "44" };
        let mk_phone = |r: &mut Mix, kind: &'static str| {
            let line = r.below(10_000);
            let ex = 200 + r.below(700);
            Phone {
                number: format!("+{cc} {area}-{ex}-{line:04}"),
                e164: format!("+{cc}{area}{ex}{line:04}"),
                kind,
            }
        };
        let phone = r.chance(0.6).then(|| mk_phone(&mut r, "direct dial"));
        let mobile = r.chance(0.4).then(|| mk_phone(&mut r, "mobile"));
        let linkedin_url = r.chance(0.9).then(|| {
            format!(
                "https://www.linkedin.com/in/{fl}-{ll}-{:x}",
                hash3(self.seed, "li", i as u64) & 0xfffff
            )
        });
        let twitter_url = r
            .chance(0.3)
            .then(|| format!("https://twitter.com/{fl}{ll}{}", r.below(100)));
        let roll = r.below(100);
        let rr = match roll {
            0..=61 => RrOutcome::Instant,
            62..=86 => RrOutcome::Async,
            87..=91 => RrOutcome::Failed,
            _ => RrOutcome::NotFound,
        };
        let email_status = if c.catch_all {
            EmailStatus::CatchAll
        } else {
            match r.below(100) {
                0..=84 => EmailStatus::Valid,
                85..=92 => EmailStatus::NotValid,
                _ => EmailStatus::Unknown,
            }
        };
        let loc = if r.chance(0.8) {
            (c.city, c.state, c.country, c.country_code)
        } else {
            let l = r.pick(LOCATIONS);
            (l.0, l.1, l.2, l.3)
        };
        let nskills = 2 + r.below(4) as usize;
        let mut skills = Vec::new();
        while skills.len() < nskills {
            let s = *r.pick(SKILLS);
            if !skills.contains(&s) {
                skills.push(s);
            }
        }
        let name = match &middle {
            Some(m) => format!("{first} {m} {last}"),
            None => format!("{first} {last}"),
        };
        Person {
            idx: i,
            id: PERSON_ID_BASE + i as u64,
            first_name: first.to_string(),
            middle_name: middle,
            last_name: last.to_string(),
            name,
            company,
            title,
            title_level: level,
            department: dept,
            function,
            work_email,
            personal_email,
            phone,
            mobile,
            linkedin_url,
            twitter_url,
            city: loc.0,
            state: loc.1,
            country: loc.2,
            country_code: loc.3,
            birth_year: 1960 + r.below(40) as u32,
            connections: 50 + r.below(450) as u32,
            skills,
            rr,
            email_status,
            suppressed: r.chance(0.01),
        }
    }

    pub fn company_of(&self, p: &Person) -> &Company {
        &self.companies[p.company as usize]
    }

    pub fn person_by_id(&self, id: u64) -> Option<&Person> {
        let i = id.checked_sub(PERSON_ID_BASE)?;
        self.people.get(usize::try_from(i).ok()?)
    }

    pub fn person_by_email(&self, email: &str) -> Option<&Person> {
        let e = email.trim();
        let hit = if e.bytes().any(|b| b.is_ascii_uppercase()) {
            self.by_email.get(&e.to_ascii_lowercase())
        } else {
            self.by_email.get(e)
        };
        hit.map(|&i| &self.people[i as usize])
    }

    pub fn person_by_linkedin(&self, url: &str) -> Option<&Person> {
        self.by_linkedin
            .get(&normalize_linkedin(url))
            .map(|&i| &self.people[i as usize])
    }

    pub fn person_by_name_employer(&self, name: &str, employer: &str) -> Option<&Person> {
        let key = (normalize_name(name), normalize_employer(employer));
        self.by_name_employer.get(&key).map(|&i| &self.people[i as usize])
    }

    pub fn person_by_phone(&self, phone: &str) -> Option<&Person> {
        let d = phone_digits(phone);
        self.by_phone
            .get(&d)
            .or_else(|| self.by_phone.get(&format!("1{d}")))
            .map(|&i| &self.people[i as usize])
    }

    pub fn company_by_id(&self, id: u64) -> Option<&Company> {
        let i = id.checked_sub(COMPANY_ID_BASE)?;
        self.companies.get(usize::try_from(i).ok()?)
    }

    pub fn company_by_domain(&self, domain: &str) -> Option<&Company> {
        self.company_by_domain
            .get(&normalize_domain(domain))
            .map(|&i| &self.companies[i as usize])
    }

    pub fn company_by_name(&self, name: &str) -> Option<&Company> {
        self.company_by_name
            .get(&normalize_employer(name))
            .map(|&i| &self.companies[i as usize])
    }

    pub fn company_by_linkedin(&self, url: &str) -> Option<&Company> {
        self.company_by_linkedin
            .get(&normalize_linkedin(url))
            .map(|&i| &self.companies[i as usize])
    }

    pub fn company_by_ticker(&self, t: &str) -> Option<&Company> {
        self.company_by_ticker
            .get(&t.trim().to_ascii_uppercase())
            .map(|&i| &self.companies[i as usize])
    }

    /// A person who exists in no vendor's data (for "not found" rows): a
    /// name built from words absent from the universe and an address at a
    /// domain no universe company owns.
    pub fn ghost(&self, n: u64) -> (String, String, String, String) {
        let mut r = Mix::new(hash3(self.seed, "ghost", n));
        let first = *r.pick(GHOST_FIRST);
        let last = *r.pick(GHOST_LAST);
        let company = format!(
            "{} {} Ventures",
            r.pick(GHOST_LAST),
            r.pick(&["North", "South", "East", "West"])
        );
        let domain = format!("{}-{n}.example", company.to_ascii_lowercase().replace(' ', "-"));
        let email = format!("{}.{}@{domain}", first.to_ascii_lowercase(), last.to_ascii_lowercase());
        (first.to_string(), last.to_string(), company, email)
    }

    /// The LeadRocks verdict for any address: universe addresses get their
    /// recorded status, catch-all domains `catch-all`, unknown mailboxes at
    /// universe domains `not valid`, free-mail and disposable domains their
    /// flags, and anything else a status hashed from the address.
    pub fn verdict(&self, email: &str) -> Verdict {
        let e = email.trim().to_ascii_lowercase();
        let Some((local, domain)) = e
            .rsplit_once('@')
            .filter(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.'))
        else {
            return Verdict {
                status: EmailStatus::NotValid,
                safe_to_send: false,
                disposable: false,
                free_account: false,
                role_account: false,
            };
        };
        let disposable = DISPOSABLE_DOMAINS.contains(&domain);
        let free_account = FREE_DOMAINS.contains(&domain);
        let role_account = ROLE_LOCALS.contains(&local);
        let status = if let Some(p) = self.person_by_email(&e) {
            if p.work_email == e {
                p.email_status
            } else {
                EmailStatus::Valid
            }
        } else if let Some(c) = self.company_by_domain.get(domain).map(|&i| &self.companies[i as usize]) {
            if c.catch_all {
                EmailStatus::CatchAll
            } else if role_account {
                EmailStatus::Valid
            } else {
                EmailStatus::NotValid
            }
        } else if disposable {
            EmailStatus::Valid
        } else {
            match hash_str(self.seed, "verdict", &e) % 10 {
                0..=4 => EmailStatus::Valid,
                5..=7 => EmailStatus::NotValid,
                _ => EmailStatus::Unknown,
            }
        };
        Verdict {
            safe_to_send: status == EmailStatus::Valid && !disposable && !role_account,
            status,
            disposable,
            free_account,
            role_account,
        }
    }
}

const FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Donald",
    "Margaret",
    "Steven",
    "Ashley",
    "Andrew",
    "Kimberly",
    "Paul",
    "Emily",
    "Joshua",
    "Donna",
    "Kenneth",
    "Michelle",
    "Kevin",
    "Carol",
    "Brian",
    "Amanda",
    "George",
    "Melissa",
    "Timothy",
    "Deborah",
    "Ronald",
    "Stephanie",
    "Jason",
    "Rebecca",
    "Edward",
    "Sharon",
    "Jeffrey",
    "Laura",
    "Ryan",
    "Cynthia",
    "Jacob",
    "Amy",
    "Gary",
    "Kathleen",
    "Nicholas",
    "Angela",
    "Eric",
    "Shirley",
    "Jonathan",
    "Brenda",
    "Stephen",
    "Emma",
    "Larry",
    "Anna",
    "Justin",
    "Pamela",
    "Scott",
    "Nicole",
    "Brandon",
    "Samantha",
    "Benjamin",
    "Katherine",
    "Samuel",
    "Christine",
    "Gregory",
    "Helen",
    "Alexander",
    "Debra",
    "Patrick",
    "Rachel",
    "Frank",
    "Carolyn",
    "Raymond",
    "Janet",
    "Jack",
    "Maria",
    "Dennis",
    "Olivia",
    "Jerry",
    "Heather",
    "Tyler",
    "Diane",
    "Aaron",
    "Julie",
    "Jose",
    "Joyce",
    "Adam",
    "Victoria",
    "Nathan",
    "Ruth",
    "Henry",
    "Virginia",
    "Zachary",
    "Lauren",
    "Douglas",
    "Kelly",
    "Peter",
    "Christina",
    "Kyle",
    "Joan",
    "Noah",
    "Evelyn",
    "Priya",
    "Wei",
    "Aisha",
    "Mateo",
    "Yuki",
    "Lars",
    "Ingrid",
    "Omar",
    "Fatima",
    "Hiroshi",
    "Sofia",
    "Diego",
    "Chloe",
    "Ravi",
];

const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Jimenez",
    "Powell",
    "Jenkins",
    "Perry",
    "Russell",
    "Sullivan",
    "Bell",
    "Coleman",
    "Butler",
    "Henderson",
    "Barnes",
    "Fisher",
    "Vasquez",
    "Simmons",
    "Romero",
    "Jordan",
    "Patterson",
    "Alexander",
    "Hamilton",
    "Graham",
    "Reynolds",
    "Griffin",
    "Wallace",
    "Moreno",
    "West",
    "Cole",
    "Hayes",
    "Bryant",
    "Herrera",
    "Gibson",
    "Ellis",
    "Tanaka",
    "Schmidt",
    "Larsen",
    "Okafor",
    "Haddad",
    "Novak",
    "Rossi",
    "Dubois",
    "Singh",
    "Chen",
    "Kowalski",
    "Silva",
];

const COMPANY_PREFIX: &[&str] = &[
    "Acme",
    "Blue",
    "Bright",
    "Cedar",
    "Cobalt",
    "Crimson",
    "Delta",
    "Echo",
    "Ember",
    "Falcon",
    "Granite",
    "Harbor",
    "Helix",
    "Indigo",
    "Iron",
    "Juniper",
    "Keystone",
    "Lumen",
    "Maple",
    "Meridian",
    "Nimbus",
    "Northwind",
    "Nova",
    "Oak",
    "Onyx",
    "Orbit",
    "Pioneer",
    "Prism",
    "Quantum",
    "Quartz",
    "Redwood",
    "Ridge",
    "Sable",
    "Silver",
    "Summit",
    "Swift",
    "Tandem",
    "Terra",
    "Titan",
    "Umbra",
    "Vector",
    "Velvet",
    "Vertex",
    "Willow",
    "Zenith",
    "Atlas",
    "Beacon",
    "Copper",
    "Drift",
    "Evergreen",
    "Fjord",
    "Glacier",
    "Horizon",
    "Ivory",
    "Jade",
    "Kestrel",
    "Lattice",
    "Mosaic",
    "Nomad",
    "Opal",
];

const COMPANY_NOUN: &[&str] = &[
    "Analytics",
    "Systems",
    "Labs",
    "Software",
    "Networks",
    "Health",
    "Logistics",
    "Robotics",
    "Media",
    "Dynamics",
    "Capital",
    "Energy",
    "Foods",
    "Biotech",
    "Security",
    "Cloud",
    "Data",
    "Works",
    "Partners",
    "Solutions",
    "Devices",
    "Commerce",
    "Learning",
    "Motors",
    "Materials",
    "Payments",
    "Insights",
    "Studios",
    "Telecom",
    "Freight",
];

const COMPANY_TAIL: &[&str] = &[
    "Group",
    "Global",
    "Holdings",
    "Technologies",
    "International",
    "Collective",
    "One",
    "Co",
];

const INDUSTRIES: &[(&str, &str)] = &[
    ("Computer Software", "7372"),
    ("Information Technology and Services", "7373"),
    ("Hospital & Health Care", "8062"),
    ("Financial Services", "6199"),
    ("Logistics and Supply Chain", "4731"),
    ("Marketing and Advertising", "7311"),
    ("Biotechnology", "2836"),
    ("Telecommunications", "4813"),
    ("Retail", "5399"),
    ("Food & Beverages", "2099"),
    ("Automotive", "3711"),
    ("Education Management", "8221"),
    ("Construction", "1542"),
    ("Renewables & Environment", "4911"),
    ("Farming", "111"),
];

const EMPLOYEE_SIZES: &[(&str, u32, u32)] = &[
    ("1 to 10", 1, 10),
    ("10 to 50", 10, 50),
    ("50 to 200", 50, 200),
    ("200 to 500", 200, 500),
    ("500 to 1000", 500, 1000),
    ("1000 to 5000", 1000, 5000),
    ("5000 to 10000", 5000, 10000),
    ("10000+", 10000, 60000),
];

const REVENUES: &[(&str, u64)] = &[
    ("$0 to $1M", 500_000),
    ("$1M to $5M", 3_000_000),
    ("$5M to $10M", 7_500_000),
    ("$10M to $50M", 30_000_000),
    ("$50M to $100M", 75_000_000),
    ("$100M to $500M", 300_000_000),
    ("$500M to $1B", 750_000_000),
    ("$1B+", 2_500_000_000),
    ("$1B+", 5_000_000_000),
];

/// (city, state, country, country code, zip prefix, phone country code)
type Location = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);
const LOCATIONS: &[Location] = &[
    ("New York", "New York", "United States", "US", "10", "1"),
    ("San Francisco", "California", "United States", "US", "94", "1"),
    ("Austin", "Texas", "United States", "US", "78", "1"),
    ("Seattle", "Washington", "United States", "US", "98", "1"),
    ("Boston", "Massachusetts", "United States", "US", "02", "1"),
    ("Chicago", "Illinois", "United States", "US", "60", "1"),
    ("Denver", "Colorado", "United States", "US", "80", "1"),
    ("Atlanta", "Georgia", "United States", "US", "30", "1"),
    ("Miami", "Florida", "United States", "US", "33", "1"),
    ("Hayden", "Idaho", "United States", "US", "83", "1"),
    ("Los Angeles", "California", "United States", "US", "90", "1"),
    ("Portland", "Oregon", "United States", "US", "97", "1"),
    ("London", "England", "United Kingdom", "GB", "EC", "44"),
    ("Manchester", "England", "United Kingdom", "GB", "M", "44"),
];

const PRIVATE_TYPES: [&str; 5] = ["Private", "Private", "Private", "Non-Profit", "Partnership"];

const STREETS: &[&str] = &[
    "Main St",
    "Market St",
    "Oak Ave",
    "Pine St",
    "Broadway",
    "Mission St",
    "Elm St",
    "Park Ave",
    "Lake Rd",
];

/// (title, level, department, function)
const TITLES: &[(&str, &str, &str, &str)] = &[
    ("Chief Executive Officer", "C-Suite", "Executive", "Management"),
    ("Chief Technology Officer", "C-Suite", "Engineering", "Technology"),
    ("Chief Financial Officer", "C-Suite", "Finance", "Finance"),
    ("Chief Marketing Officer", "C-Suite", "Marketing", "Marketing"),
    ("VP of Sales", "VP", "Sales", "Sales"),
    ("VP of Engineering", "VP", "Engineering", "Technology"),
    ("VP of Marketing", "VP", "Marketing", "Marketing"),
    ("Director of Operations", "Director", "Operations", "Operations"),
    ("Director of Product", "Director", "Product", "Product Management"),
    (
        "Director of Human Resources",
        "Director",
        "Human Resources",
        "Human Resources",
    ),
    ("Engineering Manager", "Manager", "Engineering", "Technology"),
    ("Marketing Manager", "Manager", "Marketing", "Marketing"),
    ("Sales Manager", "Manager", "Sales", "Sales"),
    ("Account Executive", "Staff", "Sales", "Sales"),
    ("Software Engineer", "Staff", "Engineering", "Technology"),
    ("Senior Software Engineer", "Senior", "Engineering", "Technology"),
    ("DevOps Engineer", "Staff", "Engineering", "Technology"),
    ("Frontend Developer", "Staff", "Engineering", "Technology"),
    ("Backend Developer", "Staff", "Engineering", "Technology"),
    ("Data Scientist", "Staff", "Engineering", "Data"),
    ("Product Manager", "Manager", "Product", "Product Management"),
    ("Financial Analyst", "Staff", "Finance", "Finance"),
    ("Recruiter", "Staff", "Human Resources", "Human Resources"),
    ("Customer Success Manager", "Manager", "Customer Success", "Support"),
    ("Head of Growth", "Director", "Marketing", "Marketing"),
];

const SKILLS: &[&str] = &[
    "Leadership",
    "Strategy",
    "SaaS",
    "Python",
    "Rust",
    "Negotiation",
    "B2B Sales",
    "Cloud Computing",
    "Analytics",
    "Product Management",
    "Recruiting",
    "Finance",
    "SQL",
    "Kubernetes",
    "Marketing Automation",
    "Public Speaking",
];

const TECH: &[&str] = &[
    "Salesforce",
    "HubSpot",
    "AWS",
    "Google Cloud",
    "Azure",
    "Kubernetes",
    "React",
    "Snowflake",
    "Stripe",
    "Zendesk",
    "Shopify",
    "Slack",
    "Okta",
    "Segment",
    "Marketo",
    "PostgreSQL",
];

pub(crate) const FREE_DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "proton.me",
];
pub(crate) const DISPOSABLE_DOMAINS: &[&str] = &[
    "mailinator.com",
    "guerrillamail.com",
    "10minutemail.com",
    "tempmail.dev",
    "yopmail.com",
];
pub(crate) const ROLE_LOCALS: &[&str] = &[
    "info",
    "sales",
    "support",
    "admin",
    "contact",
    "hello",
    "billing",
    "hr",
    "jobs",
    "marketing",
    "office",
    "team",
];

/// Names that exist in no universe (for "not found" rows).
pub(crate) const GHOST_FIRST: &[&str] = &[
    "Zephyrine",
    "Quillon",
    "Marisol",
    "Thaddeus",
    "Ottoline",
    "Bartholomew",
    "Isadora",
    "Leopold",
];
pub(crate) const GHOST_LAST: &[&str] = &[
    "Vantablack",
    "Quorrington",
    "Xylander",
    "Pemberwick",
    "Ashgrove",
    "Fennimore",
    "Blackthorne",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_universe_and_indexes_agree() {
        let a = Universe::new(7, 50, 500);
        let b = Universe::new(7, 50, 500);
        for (p, q) in a.people.iter().zip(&b.people) {
            assert_eq!(p.work_email, q.work_email);
            assert_eq!(p.rr, q.rr);
        }
        let p = &a.people[123];
        let c = a.company_of(p);
        assert_eq!(a.person_by_email(&p.work_email.to_uppercase()).unwrap().idx, 123);
        assert_eq!(a.person_by_id(p.id).unwrap().idx, 123);
        assert!(a.person_by_name_employer(&p.name, &c.name).is_some());
        assert!(a.person_by_name_employer(&p.name, &c.domain).is_some());
        assert_eq!(a.company_by_domain(&c.website).unwrap().idx, c.idx);
        let other = Universe::new(8, 50, 500);
        assert_ne!(other.people[0].work_email, a.people[0].work_email);
    }

    #[test]
    fn verdicts_follow_the_records() {
        let u = Universe::new(1, 200, 2000);
        let ca = u.companies.iter().find(|c| c.catch_all).unwrap();
        assert_eq!(
            u.verdict(&format!("nobody@{}", ca.domain)).status,
            EmailStatus::CatchAll
        );
        let plain = u.companies.iter().find(|c| !c.catch_all).unwrap();
        assert_eq!(
            u.verdict(&format!("nobody.here@{}", plain.domain)).status,
            EmailStatus::NotValid
        );
        assert!(u.verdict("x@mailinator.com").disposable);
        assert!(u.verdict("info@gmail.com").role_account);
        assert_eq!(u.verdict("not-an-email").status, EmailStatus::NotValid);
    }
}
