import { Link } from "../router";

export function NotFound() {
  return (
    <section className="state empty">
      <h1>No such page</h1>
      <p>
        The address names no page of MatrixAI. <Link href="/market">Go to the marketplace</Link>.
      </p>
    </section>
  );
}
