/** Previous / Next over numbered pages; `more` marks a count that is a lower bound. */
export function Pager({ page, pages, more = false, onPage }: { page: number; pages: number; more?: boolean; onPage: (page: number) => void }) {
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span>
        Page {page} of {more ? `${pages}+` : pages}
      </span>
      <button type="button" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}
