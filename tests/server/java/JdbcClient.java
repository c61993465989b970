// A small pgjdbc client driven by tests/server/test_jdbc.py. Prints one line per fact
// the test checks: query rows, the NOTICE (as a SQLWarning), metadata, an error code.
import java.sql.*;
import java.util.Properties;

public class JdbcClient {
    public static void main(String[] args) throws Exception {
        String url = args[0];
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        try (Connection conn = DriverManager.getConnection(url, props)) {
            DatabaseMetaData meta = conn.getMetaData();
            System.out.println("product " + meta.getDatabaseProductName() + " " + meta.getDatabaseProductVersion());
            try (ResultSet rs = meta.getSchemas()) {
                while (rs.next()) System.out.println("schema " + rs.getString("TABLE_SCHEM"));
            }
            try (ResultSet rs = meta.getTables(null, "public", "%", new String[] {"TABLE"})) {
                while (rs.next()) System.out.println("table " + rs.getString("TABLE_NAME") + " " + rs.getString("REMARKS"));
            }
            try (ResultSet rs = meta.getColumns(null, "public", "members", "%")) {
                while (rs.next()) System.out.println("column " + rs.getString("COLUMN_NAME") + " " + rs.getString("TYPE_NAME") + " " + rs.getInt("DATA_TYPE"));
            }
            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT education, COUNT(*) AS members FROM members WHERE age >= ? GROUP BY education")) {
                ps.setInt(1, 30);
                try (ResultSet rs = ps.executeQuery()) {
                    ResultSetMetaData md = rs.getMetaData();
                    System.out.println("types " + md.getColumnTypeName(1) + " " + md.getColumnTypeName(2));
                    while (rs.next()) System.out.println("row " + rs.getString(1) + " " + rs.getLong(2));
                }
                for (SQLWarning w = ps.getWarnings(); w != null; w = w.getNextWarning()) {
                    System.out.println("warning " + w.getMessage().replace('\n', ' '));
                }
            }
            try (Statement st = conn.createStatement()) {
                st.executeQuery("SELECT loyalty_number FROM members");
                System.out.println("error none");
            } catch (SQLException e) {
                System.out.println("error " + e.getSQLState());
            }
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SHOW dpproxy.budget")) {
                while (rs.next()) System.out.println("budget " + rs.getString("domain") + " " + rs.getDouble("epsilon_remaining"));
            }
        }
    }
}
