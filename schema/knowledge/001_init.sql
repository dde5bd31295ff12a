-- Knowledge: the articles the agent answers from, and their embeddings.
-- Applied by the migration runner as fte_knowledge, the owner of schema `knowledge`; the runner
-- has created the `vector` extension (schema public) as admin beforehand.

CREATE TABLE knowledge.articles (
    article_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The stable human key support staff use with grpcurl ("password-reset").
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,119}$'),
    title text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 300),
    category text NOT NULL CHECK (category ~ '^[a-z][a-z0-9-]{0,39}$'),
    body text NOT NULL CHECK (length(btrim(body)) BETWEEN 1 AND 20000),
    tags text[] NOT NULL DEFAULT '{}',
    -- sha256 of title, category and body: an unchanged hash means the stored vector is current.
    content_hash text NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
    -- Maintained by the trigger below (tags cannot feed a generated column: array_to_string
    -- is only STABLE). Title weighs most, then tags, then the body.
    search_tsv tsvector NOT NULL DEFAULT ''::tsvector,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX articles_search_tsv ON knowledge.articles USING gin (search_tsv);
CREATE INDEX articles_by_category ON knowledge.articles (category, slug);

CREATE FUNCTION knowledge.articles_set_search_tsv() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_tsv :=
        setweight(to_tsvector('english', NEW.title), 'A')
        || setweight(to_tsvector('english', array_to_string(NEW.tags, ' ')), 'B')
        || setweight(to_tsvector('english', NEW.body), 'C');
    RETURN NEW;
END
$$;

CREATE TRIGGER articles_search_tsv
    BEFORE INSERT OR UPDATE OF title, tags, body ON knowledge.articles
    FOR EACH ROW EXECUTE FUNCTION knowledge.articles_set_search_tsv();

-- One vector per article and embedding model. Keeping the model on every row is what stops a
-- provider switch from mixing vector spaces: search reads only rows of the active model, and a
-- model's vectors are (re)computed by seeding with that model active.
CREATE TABLE knowledge.article_embeddings (
    article_id uuid NOT NULL REFERENCES knowledge.articles (article_id) ON DELETE CASCADE,
    model text NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    dimensions integer NOT NULL CHECK (dimensions BETWEEN 1 AND 4096),
    -- The article content the vector was computed from; stale when it differs from the article's.
    content_hash text NOT NULL,
    embedding vector NOT NULL CHECK (vector_dims(embedding) = dimensions),
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (article_id, model)
);

-- An HNSW index needs one fixed dimension, so there is one partial index per known model,
-- over the column cast to that model's dimension. Search repeats the same cast and the model
-- name as a literal so the planner can use it. A model without an index here still works
-- (exact scan); add a migration with its index when adopting one for real.
CREATE INDEX article_embeddings_minilm_hnsw ON knowledge.article_embeddings
    USING hnsw ((embedding::vector(384)) vector_cosine_ops)
    WHERE model = 'all-MiniLM-L6-v2';
CREATE INDEX article_embeddings_te3_small_hnsw ON knowledge.article_embeddings
    USING hnsw ((embedding::vector(1536)) vector_cosine_ops)
    WHERE model = 'text-embedding-3-small';
