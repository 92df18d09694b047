//! Statistical disclosure control: what may leave the server.
//!
//! A figure about a handful of persons can identify them: "the one victim
//! from Zeeland aged 12–17 was registered again". Before any count leaves
//! the server it passes these rules (`docs/ANALYSIS.md`, "Disclosure control"):
//!
//! 1. **Cohort minimum**: no report at all for a cohort under
//!    [`DisclosureRules::cohort_minimum`] persons.
//! 2. **Primary suppression**: a count under [`DisclosureRules::min_cell`]
//!    (zero included) is suppressed.
//! 3. **Secondary suppression**: a table releases its margins (row and column
//!    totals), and a suppressed cell must not be recomputable from them.
//! 4. **Rounding**: released counts are rounded to the nearest multiple of
//!    [`DisclosureRules::rounding_base`]; percentages are computed from the
//!    rounded counts only.
//!
//! Secondary suppression uses the linear structure of a table with margins.
//! Write the table with its margins as an (R+1)×(C+1) grid and flip the sign
//! of the margins: every row and every column of that grid then sums to zero.
//! A cell is an edge between its row node and its column node in a bipartite
//! graph; the unknown cells (suppressed, or never published) form a subgraph,
//! and the null space of the constraints restricted to them is its cycle
//! space. So an unknown cell is determined by the released values exactly when
//! it lies on no cycle — when its edge is a *bridge* (Gusfield 1988, "A graph
//! theoretic approach to statistical data security", SIAM J. Comput. 17(3)).
//! Protection therefore adds suppressions until no suppressed cell is a
//! bridge, each time along the cheapest path that closes a cycle through it.

use serde::{Deserialize, Serialize};

use super::AnalysisError;

/// The operator's disclosure rules (server configuration; never set by the
/// analyst). `Default` gives the defaults of issue 7: 50, 10, 5; a
/// configuration file may set any subset of the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DisclosureRules {
    /// Smallest cohort (persons) for which any report is released.
    pub cohort_minimum: u32,
    /// Counts below this (zero included) are suppressed.
    pub min_cell: u32,
    /// Released counts are rounded to a multiple of this (1: no rounding).
    pub rounding_base: u32,
}

impl Default for DisclosureRules {
    fn default() -> Self {
        DisclosureRules {
            cohort_minimum: 50,
            min_cell: 10,
            rounding_base: 5,
        }
    }
}

impl DisclosureRules {
    /// Checks the rules are consistent.
    ///
    /// # Errors
    /// [`AnalysisError::InvalidRules`] when `rounding_base` is 0, `min_cell` is
    /// 0 (it would release single persons), or `cohort_minimum < min_cell` (a
    /// released cohort would itself be a small cell).
    pub fn validate(&self) -> Result<(), AnalysisError> {
        if self.rounding_base == 0 {
            return Err(AnalysisError::InvalidRules(
                "rounding base must be at least 1".into(),
            ));
        }
        if self.min_cell == 0 {
            return Err(AnalysisError::InvalidRules(
                "minimum cell size must be at least 1".into(),
            ));
        }
        if self.cohort_minimum < self.min_cell {
            return Err(AnalysisError::InvalidRules(format!(
                "cohort minimum {} is below the minimum cell size {}",
                self.cohort_minimum, self.min_cell
            )));
        }
        Ok(())
    }

    /// `count` rounded to the nearest multiple of the rounding base (halves
    /// upwards).
    pub fn round(&self, count: u64) -> u64 {
        let base = u64::from(self.rounding_base.max(1));
        (count + base / 2) / base * base
    }

    /// A single count as released: `None` (suppressed) under the minimum cell
    /// size, else rounded.
    pub fn release(&self, count: u64) -> Option<u64> {
        (count >= u64::from(self.min_cell)).then(|| self.round(count))
    }
}

/// A percentage from released (rounded) counts, to one decimal: `None` when
/// either count is suppressed or the denominator is zero.
pub fn percent(numerator: Option<u64>, denominator: Option<u64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0 => Some(round1(100.0 * n as f64 / d as f64)),
        _ => None,
    }
}

/// `x` rounded to one decimal.
pub(crate) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// What happened to one cell of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CellStatus {
    /// Released (rounded).
    Released,
    /// Suppressed: its count is under the minimum cell size.
    Primary,
    /// Suppressed so that a primary cell cannot be recomputed from margins.
    Secondary,
    /// Never published (a duplicate of another cell by construction, such as
    /// the row totals of a one-column table); unknown to a reader but needs
    /// no protection of its own.
    Unpublished,
}

impl CellStatus {
    /// True for the two suppressed states (the cells that must be protected).
    pub fn is_suppressed(self) -> bool {
        matches!(self, CellStatus::Primary | CellStatus::Secondary)
    }
}

/// A table of counts with its margins, before protection.
///
/// Cells are addressed `(r, c)` with `r in 0..=rows`, `c in 0..=cols`: row
/// `rows` holds the column totals, column `cols` the row totals, and
/// `(rows, cols)` the grand total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountTable {
    /// Interior rows (categories).
    rows: usize,
    /// Interior columns.
    cols: usize,
    /// The extended grid, row-major, `(rows + 1) × (cols + 1)`.
    values: Vec<u64>,
    /// Cells whose status was decided elsewhere (margins shared with another
    /// released table): `Some(true)` suppressed, `Some(false)` released.
    /// Protection never changes them, so linked tables stay consistent.
    fixed: Vec<Option<bool>>,
    /// Cells that are never published (duplicates by construction).
    unpublished: Vec<bool>,
}

impl CountTable {
    /// A two-way table from its interior counts (row-major, `rows × cols`);
    /// the margins are computed.
    ///
    /// # Panics
    /// If `interior.len() != rows * cols` (a programming error).
    pub fn new(rows: usize, cols: usize, interior: &[u64]) -> Self {
        assert_eq!(interior.len(), rows * cols, "interior must be rows × cols");
        let width = cols + 1;
        let mut values = vec![0_u64; (rows + 1) * width];
        for r in 0..rows {
            for c in 0..cols {
                let v = interior[r * cols + c];
                values[r * width + c] = v;
                values[r * width + cols] += v;
                values[rows * width + c] += v;
                values[rows * width + cols] += v;
            }
        }
        let cells = values.len();
        CountTable {
            rows,
            cols,
            values,
            fixed: vec![None; cells],
            unpublished: vec![false; cells],
        }
    }

    /// A one-way frequency table (categories with their total): one column of
    /// counts whose row totals are the same numbers and so are not published
    /// separately. The total is cell `(counts.len(), 0)`.
    pub fn frequency(counts: &[u64]) -> Self {
        let mut table = CountTable::new(counts.len(), 1, counts);
        for r in 0..=table.rows {
            let i = table.index(r, 1);
            table.unpublished[i] = true;
        }
        table
    }

    /// Interior rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Interior columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    fn index(&self, r: usize, c: usize) -> usize {
        r * (self.cols + 1) + c
    }

    /// The true count of cell `(r, c)` (margins included).
    pub fn value(&self, r: usize, c: usize) -> u64 {
        self.values[self.index(r, c)]
    }

    /// Fixes the status of a cell decided in another table (a shared margin):
    /// protection keeps it suppressed (`true`) or released (`false`).
    pub fn fix(&mut self, r: usize, c: usize, suppressed: bool) {
        let i = self.index(r, c);
        self.fixed[i] = Some(suppressed);
    }

    /// Applies primary and secondary suppression and rounding.
    pub fn protect(self, rules: &DisclosureRules) -> ProtectedTable {
        let min_cell = u64::from(rules.min_cell);
        let status: Vec<CellStatus> = (0..self.values.len())
            .map(|i| match (self.unpublished[i], self.fixed[i]) {
                (true, _) => CellStatus::Unpublished,
                (false, Some(true)) => CellStatus::Primary,
                (false, Some(false)) => CellStatus::Released,
                (false, None) if self.values[i] < min_cell => CellStatus::Primary,
                (false, None) => CellStatus::Released,
            })
            .collect();
        let mut protected = ProtectedTable {
            table: self,
            status,
            withheld: false,
            rules: *rules,
        };
        protected.secondary_suppression();
        protected
    }
}

/// A table after disclosure control.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtectedTable {
    /// The true counts (never released as such).
    table: CountTable,
    /// Status per cell of the extended grid.
    status: Vec<CellStatus>,
    /// True when no suppression pattern could protect the table without
    /// changing a shared margin: nothing of it may be released.
    withheld: bool,
    /// The rules applied (for rounding).
    rules: DisclosureRules,
}

impl ProtectedTable {
    /// The status of cell `(r, c)`.
    pub fn status(&self, r: usize, c: usize) -> CellStatus {
        self.status[self.table.index(r, c)]
    }

    /// The released value of cell `(r, c)`: rounded, or `None` when the cell
    /// is suppressed or unpublished or the table is withheld.
    pub fn released(&self, r: usize, c: usize) -> Option<u64> {
        (!self.withheld && self.status(r, c) == CellStatus::Released)
            .then(|| self.rules.round(self.table.value(r, c)))
    }

    /// The table before protection.
    pub fn table(&self) -> &CountTable {
        &self.table
    }

    /// True when the table cannot be released at all.
    pub fn withheld(&self) -> bool {
        self.withheld
    }

    /// Numbers of released and of suppressed cells (fixed cells included;
    /// unpublished duplicates not counted).
    pub fn cell_counts(&self) -> (u64, u64) {
        self.status.iter().fold((0, 0), |(rel, sup), s| match s {
            CellStatus::Released if !self.withheld => (rel + 1, sup),
            CellStatus::Released | CellStatus::Primary | CellStatus::Secondary => (rel, sup + 1),
            CellStatus::Unpublished => (rel, sup),
        })
    }

    /// Suppressed cells that the released values determine exactly (their
    /// edge is a bridge of the unknown-cell graph). Empty after protection
    /// unless the table is withheld.
    pub fn determined_cells(&self) -> Vec<(usize, usize)> {
        let graph = self.unknown_graph();
        self.cells()
            .filter(|&(r, c)| self.status(r, c).is_suppressed() && graph.is_bridge(r, c))
            .collect()
    }

    fn cells(&self) -> impl Iterator<Item = (usize, usize)> + use<> {
        let (rows, cols) = (self.table.rows, self.table.cols);
        (0..=rows).flat_map(move |r| (0..=cols).map(move |c| (r, c)))
    }

    fn unknown_graph(&self) -> CellGraph {
        let mut graph = CellGraph::new(self.table.rows + 1, self.table.cols + 1);
        for (r, c) in self.cells() {
            if self.status(r, c) != CellStatus::Released {
                graph.add(r, c);
            }
        }
        graph
    }

    /// Suppresses released cells until no suppressed cell is a bridge.
    fn secondary_suppression(&mut self) {
        loop {
            let graph = self.unknown_graph();
            let exposed = self
                .cells()
                .find(|&(r, c)| self.status(r, c).is_suppressed() && graph.is_bridge(r, c));
            let Some((r, c)) = exposed else {
                return;
            };
            match self.cheapest_cycle_completion(&graph, r, c) {
                Some(cells) => {
                    for (pr, pc) in cells {
                        let i = self.table.index(pr, pc);
                        self.status[i] = CellStatus::Secondary;
                    }
                }
                None => {
                    self.withheld = true;
                    return;
                }
            }
        }
    }

    /// Cost of suppressing a released cell: small interior cells first; a
    /// table's own margins cost more (they are the most used figures); fixed
    /// cells cannot be suppressed here.
    fn suppression_cost(&self, r: usize, c: usize) -> Option<u64> {
        let i = self.table.index(r, c);
        if self.table.fixed[i].is_some() {
            return None;
        }
        let base = self.table.values[i] + 1;
        let margin = r == self.table.rows || c == self.table.cols;
        Some(if margin { 4 * base } else { base })
    }

    /// The released cells to suppress so that a path from row node `r` to
    /// column node `c` exists without the edge `(r, c)`: unknown cells cost
    /// nothing, released cells their suppression cost (Dijkstra on the
    /// complete bipartite graph of the extended grid).
    fn cheapest_cycle_completion(
        &self,
        graph: &CellGraph,
        r: usize,
        c: usize,
    ) -> Option<Vec<(usize, usize)>> {
        let rows = self.table.rows + 1;
        let nodes = rows + self.table.cols + 1;
        let mut dist = vec![u64::MAX; nodes];
        let mut prev = vec![usize::MAX; nodes];
        let mut done = vec![false; nodes];
        dist[r] = 0;
        let target = rows + c;
        while let Some(u) = (0..nodes)
            .filter(|&n| !done[n] && dist[n] < u64::MAX)
            .min_by_key(|&n| dist[n])
        {
            done[u] = true;
            if u == target {
                break;
            }
            let neighbours: Box<dyn Iterator<Item = usize>> = if u < rows {
                Box::new(rows..nodes)
            } else {
                Box::new(0..rows)
            };
            for v in neighbours {
                let (cr, cc) = if u < rows {
                    (u, v - rows)
                } else {
                    (v, u - rows)
                };
                if (cr, cc) == (r, c) || done[v] {
                    continue;
                }
                let cost = if graph.has(cr, cc) {
                    Some(0)
                } else {
                    self.suppression_cost(cr, cc)
                };
                if let Some(cost) = cost {
                    let d = dist[u].saturating_add(cost);
                    if d < dist[v] {
                        dist[v] = d;
                        prev[v] = u;
                    }
                }
            }
        }
        if dist[target] == u64::MAX {
            return None;
        }
        let mut cells = Vec::new();
        let mut v = target;
        while v != r {
            let u = prev[v];
            let (cr, cc) = if u < rows {
                (u, v - rows)
            } else {
                (v, u - rows)
            };
            if !graph.has(cr, cc) {
                cells.push((cr, cc));
            }
            v = u;
        }
        Some(cells)
    }
}

/// The bipartite graph of unknown cells: row nodes `0..rows`, column nodes
/// `0..cols`, an edge per unknown cell.
struct CellGraph {
    rows: usize,
    cols: usize,
    /// Adjacency matrix, row-major `rows × cols`.
    edge: Vec<bool>,
}

impl CellGraph {
    fn new(rows: usize, cols: usize) -> Self {
        CellGraph {
            rows,
            cols,
            edge: vec![false; rows * cols],
        }
    }

    fn add(&mut self, r: usize, c: usize) {
        self.edge[r * self.cols + c] = true;
    }

    fn has(&self, r: usize, c: usize) -> bool {
        self.edge[r * self.cols + c]
    }

    /// True when the edge `(r, c)` is on no cycle: without it, row node `r`
    /// cannot reach column node `c`.
    fn is_bridge(&self, r: usize, c: usize) -> bool {
        let nodes = self.rows + self.cols;
        let target = self.rows + c;
        let mut seen = vec![false; nodes];
        let mut stack = vec![r];
        seen[r] = true;
        while let Some(u) = stack.pop() {
            let (lo, hi) = if u < self.rows {
                (self.rows, nodes)
            } else {
                (0, self.rows)
            };
            // The cell joining node u and node v.
            let cell = |v: usize| {
                if u < self.rows {
                    (u, v - self.rows)
                } else {
                    (v, u - self.rows)
                }
            };
            let reachable =
                (lo..hi).filter(|&v| cell(v) != (r, c) && self.has(cell(v).0, cell(v).1));
            for v in reachable {
                if v == target {
                    return false;
                }
                if !seen[v] {
                    seen[v] = true;
                    stack.push(v);
                }
            }
        }
        true
    }
}

/// Bridges of the unknown-cell graph for an explicit pattern: `unknown(r, c)`
/// over the extended `(rows + 1) × (cols + 1)` grid. Returns the unknown cells
/// that are determined by the known ones. Exposed for tests that check the
/// criterion against linear algebra.
pub fn determined_unknowns(
    rows: usize,
    cols: usize,
    unknown: impl Fn(usize, usize) -> bool,
) -> Vec<(usize, usize)> {
    let mut graph = CellGraph::new(rows + 1, cols + 1);
    for r in 0..=rows {
        for c in 0..=cols {
            if unknown(r, c) {
                graph.add(r, c);
            }
        }
    }
    let mut determined = Vec::new();
    for r in 0..=rows {
        for c in 0..=cols {
            if graph.has(r, c) && graph.is_bridge(r, c) {
                determined.push((r, c));
            }
        }
    }
    determined
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rounding goes to the nearest multiple, halves upwards; release applies
    /// the threshold to the true count.
    #[test]
    fn rounding_and_release() {
        let rules = DisclosureRules::default();
        assert_eq!(
            [0, 2, 3, 7, 8, 12, 13].map(|n| rules.round(n)),
            [0, 0, 5, 5, 10, 10, 15]
        );
        assert_eq!(rules.release(9), None);
        assert_eq!(rules.release(10), Some(10));
        assert_eq!(rules.release(12), Some(10));
        let even = DisclosureRules {
            rounding_base: 10,
            ..rules
        };
        assert_eq!(even.round(15), 20);
        assert_eq!(percent(Some(5), Some(20)), Some(25.0));
        assert_eq!(percent(None, Some(20)), None);
        assert_eq!(percent(Some(0), Some(0)), None);
    }

    /// A single small cell in a 2×2 table forces the other three interior
    /// cells of its cycle to be suppressed, and nothing is then determined.
    #[test]
    fn single_small_cell_gets_a_cycle() {
        let table = CountTable::new(2, 2, &[3, 40, 50, 60]);
        let p = table.protect(&DisclosureRules::default());
        assert_eq!(p.status(0, 0), CellStatus::Primary);
        assert!(p.determined_cells().is_empty());
        let suppressed = (0..=2)
            .flat_map(|r| (0..=2).map(move |c| (r, c)))
            .filter(|&(r, c)| p.status(r, c).is_suppressed())
            .count();
        assert_eq!(suppressed, 4, "the cheapest cycle is the interior 2×2");
        assert_eq!(p.released(2, 2), Some(155));
    }

    /// In a frequency table a lone small category is protected by suppressing
    /// the smallest other category, not the total.
    #[test]
    fn frequency_table_protects_lone_cell() {
        let p = CountTable::frequency(&[4, 30, 12, 100]).protect(&DisclosureRules::default());
        assert_eq!(p.status(0, 0), CellStatus::Primary);
        assert_eq!(p.status(2, 0), CellStatus::Secondary);
        assert_eq!(p.status(1, 0), CellStatus::Released);
        assert_eq!(p.released(4, 0), Some(145));
        assert!(p.determined_cells().is_empty());
    }

    /// A table that can only be protected by touching a fixed margin is withheld.
    #[test]
    fn unprotectable_table_is_withheld() {
        // One category: its count equals the fixed, released total.
        let mut table = CountTable::frequency(&[3]);
        table.fix(1, 0, false);
        let p = table.protect(&DisclosureRules::default());
        assert!(p.withheld());
        assert_eq!(p.released(1, 0), None);
        assert_eq!(p.cell_counts(), (0, 2));
    }
}
